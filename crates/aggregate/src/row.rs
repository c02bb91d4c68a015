//! [`Row`]: read access to one event's columns by name, for filters and views.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use tessera_value::Value;

/// One event's columns, looked up by name. A missing column reads as null.
/// Implement it over whatever holds the event (an Arrow row, a JSON object);
/// this crate implements it for maps and slices of pairs.
pub trait Row {
    /// The value of `column`, `None` when the row has no such column.
    fn get(&self, column: &str) -> Option<&Value>;
}

impl<R: Row + ?Sized> Row for &R {
    fn get(&self, column: &str) -> Option<&Value> {
        (**self).get(column)
    }
}

impl Row for BTreeMap<String, Value> {
    fn get(&self, column: &str) -> Option<&Value> {
        BTreeMap::get(self, column)
    }
}

impl<S: BuildHasher> Row for HashMap<String, Value, S> {
    fn get(&self, column: &str) -> Option<&Value> {
        HashMap::get(self, column)
    }
}

impl Row for [(&str, Value)] {
    fn get(&self, column: &str) -> Option<&Value> {
        self.iter().find(|(c, _)| *c == column).map(|(_, v)| v)
    }
}

impl<const N: usize> Row for [(&str, Value); N] {
    fn get(&self, column: &str) -> Option<&Value> {
        Row::get(self.as_slice(), column)
    }
}

impl Row for [(String, Value)] {
    fn get(&self, column: &str) -> Option<&Value> {
        self.iter().find(|(c, _)| c == column).map(|(_, v)| v)
    }
}

impl Row for Vec<(String, Value)> {
    fn get(&self, column: &str) -> Option<&Value> {
        Row::get(self.as_slice(), column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        let pairs = [("a", Value::Int64(1)), ("b", Value::from("x"))];
        assert_eq!(Row::get(&pairs, "b"), Some(&Value::from("x")));
        assert_eq!(Row::get(&pairs, "c"), None);
        let map: BTreeMap<String, Value> = [("a".to_owned(), Value::Bool(true))].into();
        assert_eq!(Row::get(&map, "a"), Some(&Value::Bool(true)));
        let owned = vec![("k".to_owned(), Value::Null)];
        assert_eq!(Row::get(&owned, "k"), Some(&Value::Null));
    }
}
