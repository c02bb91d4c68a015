//! [`Row`]: read access to one event's columns by name, for filters and views.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use crate::datum::Datum;

/// One event's columns, looked up by name. A missing column reads as null.
/// Implement it over whatever holds the event (an Arrow row, a JSON object);
/// this crate implements it for maps and slices of pairs.
pub trait Row {
    /// The value of `column`, `None` when the row has no such column.
    fn get(&self, column: &str) -> Option<&Datum>;
}

impl<R: Row + ?Sized> Row for &R {
    fn get(&self, column: &str) -> Option<&Datum> {
        (**self).get(column)
    }
}

impl Row for BTreeMap<String, Datum> {
    fn get(&self, column: &str) -> Option<&Datum> {
        BTreeMap::get(self, column)
    }
}

impl<S: BuildHasher> Row for HashMap<String, Datum, S> {
    fn get(&self, column: &str) -> Option<&Datum> {
        HashMap::get(self, column)
    }
}

impl Row for [(&str, Datum)] {
    fn get(&self, column: &str) -> Option<&Datum> {
        self.iter().find(|(c, _)| *c == column).map(|(_, v)| v)
    }
}

impl<const N: usize> Row for [(&str, Datum); N] {
    fn get(&self, column: &str) -> Option<&Datum> {
        Row::get(self.as_slice(), column)
    }
}

impl Row for [(String, Datum)] {
    fn get(&self, column: &str) -> Option<&Datum> {
        self.iter().find(|(c, _)| c == column).map(|(_, v)| v)
    }
}

impl Row for Vec<(String, Datum)> {
    fn get(&self, column: &str) -> Option<&Datum> {
        Row::get(self.as_slice(), column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        let pairs = [("a", Datum::Int64(1)), ("b", Datum::from("x"))];
        assert_eq!(Row::get(&pairs, "b"), Some(&Datum::from("x")));
        assert_eq!(Row::get(&pairs, "c"), None);
        let map: BTreeMap<String, Datum> = [("a".to_owned(), Datum::Bool(true))].into();
        assert_eq!(Row::get(&map, "a"), Some(&Datum::Bool(true)));
        let owned = vec![("k".to_owned(), Datum::Null)];
        assert_eq!(Row::get(&owned, "k"), Some(&Datum::Null));
    }
}
