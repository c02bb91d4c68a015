//! Entity keys mapped to dense ids, so the join compares integers, not key values.
//!
//! The spine's keys define the id space: a feature row whose key is not in the spine can
//! never be joined and is dropped as soon as it is read. A single integer key is hashed
//! directly; any other key (strings, several columns) is encoded with Arrow's row format.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use arrow::row::{RowConverter, SortField};
use hashbrown::HashMap;

use crate::error::{Error, Result};

/// Marks a row whose key is null or unknown.
pub(crate) const NO_KEY: u32 = u32::MAX;

/// A direct table is used when the key range is at most this many times the key count.
const DENSE_FACTOR: usize = 4;

/// The type keys of `dt` are compared as, or `None` if such keys are not supported.
pub(crate) fn key_type(dt: &DataType) -> Option<DataType> {
    use DataType as D;
    match dt {
        D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32 => {
            Some(D::Int64)
        }
        D::UInt64 => Some(D::UInt64),
        D::Utf8 | D::LargeUtf8 | D::Utf8View => Some(D::Utf8),
        D::Binary | D::LargeBinary | D::BinaryView => Some(D::Binary),
        D::Boolean => Some(D::Boolean),
        D::Date32 => Some(D::Date32),
        _ => None,
    }
}

/// Dense ids for the distinct keys of the spine.
pub(crate) enum KeyIndex {
    /// One integer key column whose spine values span a small range: a direct table
    /// (`table[key - min]`), no hashing. Chosen when the range is at most
    /// [`DENSE_FACTOR`] times the number of distinct keys (ids are often dense).
    Dense { min: i64, table: Vec<u32> },
    /// One integer key column.
    Int(HashMap<i64, u32>),
    /// Any other key: Arrow row encoding of the normalised columns.
    Rows {
        converter: RowConverter,
        types: Vec<DataType>,
        map: HashMap<Box<[u8]>, u32>,
    },
}

impl KeyIndex {
    /// Builds the index from the spine's key columns; returns it, the id of each spine row
    /// ([`NO_KEY`] for a null key) and the number of distinct keys.
    pub(crate) fn build(cols: &[ArrayRef]) -> Result<(Self, Vec<u32>, usize)> {
        let types = normalised_types(cols)?;
        if types.len() == 1 && types[0] == DataType::Int64 {
            let a = cast(&cols[0], &DataType::Int64)?;
            let a = a.as_primitive::<Int64Type>();
            let mut map: HashMap<i64, u32> = HashMap::with_capacity(a.len() / 2);
            let ids = (0..a.len())
                .map(|i| {
                    if a.is_null(i) {
                        NO_KEY
                    } else {
                        let n = map.len() as u32;
                        *map.entry(a.value(i)).or_insert(n)
                    }
                })
                .collect();
            let n = map.len();
            if let (Some(&lo), Some(&hi)) = (map.keys().min(), map.keys().max()) {
                let span = (hi as i128 - lo as i128 + 1) as u128;
                if span <= (DENSE_FACTOR * n.max(1024)) as u128 {
                    let mut table = vec![NO_KEY; span as usize];
                    for (&k, &id) in &map {
                        table[(k - lo) as usize] = id;
                    }
                    return Ok((KeyIndex::Dense { min: lo, table }, ids, n));
                }
            }
            return Ok((KeyIndex::Int(map), ids, n));
        }
        let converter = RowConverter::new(types.iter().cloned().map(SortField::new).collect())?;
        let normalised = normalise(cols, &types)?;
        let rows = converter.convert_columns(&normalised)?;
        let any_null = null_mask(&normalised);
        let mut map: HashMap<Box<[u8]>, u32> = HashMap::new();
        let ids = (0..rows.num_rows())
            .map(|i| {
                if any_null.as_ref().is_some_and(|m| m[i]) {
                    NO_KEY
                } else {
                    let n = map.len() as u32;
                    *map.entry(Box::from(rows.row(i).as_ref())).or_insert(n)
                }
            })
            .collect();
        let n = map.len();
        Ok((
            KeyIndex::Rows {
                converter,
                types,
                map,
            },
            ids,
            n,
        ))
    }

    /// The id of each row's key in a batch of source rows ([`NO_KEY`] if null or unknown).
    pub(crate) fn lookup(&self, cols: &[ArrayRef], out: &mut Vec<u32>) -> Result<()> {
        out.clear();
        match self {
            KeyIndex::Dense { min, table } => {
                let a = cast(&cols[0], &DataType::Int64)?;
                let a = a.as_primitive::<Int64Type>();
                let at = |v: i64| -> u32 {
                    let off = v.wrapping_sub(*min) as u64;
                    table.get(off as usize).copied().unwrap_or(NO_KEY)
                };
                match a.nulls() {
                    None => out.extend(a.values().iter().map(|&v| at(v))),
                    Some(n) => out.extend(a.values().iter().enumerate().map(|(i, &v)| {
                        if n.is_null(i) {
                            NO_KEY
                        } else {
                            at(v)
                        }
                    })),
                }
            }
            KeyIndex::Int(map) => {
                let a = cast(&cols[0], &DataType::Int64)?;
                let a = a.as_primitive::<Int64Type>();
                let values = a.values();
                match a.nulls() {
                    None => {
                        out.extend(values.iter().map(|v| map.get(v).copied().unwrap_or(NO_KEY)))
                    }
                    Some(n) => out.extend(values.iter().enumerate().map(|(i, v)| {
                        if n.is_null(i) {
                            NO_KEY
                        } else {
                            map.get(v).copied().unwrap_or(NO_KEY)
                        }
                    })),
                }
            }
            KeyIndex::Rows {
                converter,
                types,
                map,
            } => {
                let normalised = normalise(cols, types)?;
                let rows = converter.convert_columns(&normalised)?;
                let any_null = null_mask(&normalised);
                out.extend((0..rows.num_rows()).map(|i| {
                    if any_null.as_ref().is_some_and(|m| m[i]) {
                        NO_KEY
                    } else {
                        map.get(rows.row(i).as_ref()).copied().unwrap_or(NO_KEY)
                    }
                }));
            }
        }
        Ok(())
    }
}

fn normalised_types(cols: &[ArrayRef]) -> Result<Vec<DataType>> {
    cols.iter()
        .map(|c| {
            key_type(c.data_type()).ok_or_else(|| Error::Request {
                message: format!("entity keys of type {} are not supported", c.data_type()),
                hint: "use integer or string join keys".to_string(),
            })
        })
        .collect()
}

fn normalise(cols: &[ArrayRef], types: &[DataType]) -> Result<Vec<ArrayRef>> {
    cols.iter()
        .zip(types)
        .map(|(c, t)| Ok(cast(c, t)?))
        .collect()
}

fn null_mask(cols: &[ArrayRef]) -> Option<Vec<bool>> {
    if cols.iter().all(|c| c.null_count() == 0) {
        return None;
    }
    let len = cols.first().map_or(0, |c| c.len());
    let mut mask = vec![false; len];
    for c in cols {
        if let Some(n) = c.logical_nulls() {
            for (i, m) in mask.iter_mut().enumerate() {
                *m |= n.is_null(i);
            }
        }
    }
    Some(mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn int_keys_of_different_widths_match() {
        let spine: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), Some(7), None, Some(5)]));
        let (idx, ids, n) = KeyIndex::build(&[spine]).unwrap();
        assert_eq!((ids, n), (vec![0, 1, NO_KEY, 0], 2));
        let src: ArrayRef = Arc::new(Int32Array::from(vec![Some(7), Some(9), None]));
        let mut out = Vec::new();
        idx.lookup(&[src], &mut out).unwrap();
        assert_eq!(out, vec![1, NO_KEY, NO_KEY]);
    }

    #[test]
    fn dense_and_sparse_int_keys_agree() {
        let spine: ArrayRef = Arc::new(Int64Array::from(vec![Some(-3), Some(2), None, Some(0)]));
        let (idx, ids, _) = KeyIndex::build(&[spine]).unwrap();
        assert!(matches!(idx, KeyIndex::Dense { .. }));
        let src: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(2),
            Some(-4),
            Some(3),
            Some(i64::MIN),
            Some(i64::MAX),
            Some(-3),
            None,
        ]));
        let mut out = Vec::new();
        idx.lookup(&[src], &mut out).unwrap();
        assert_eq!(
            out,
            vec![ids[1], NO_KEY, NO_KEY, NO_KEY, NO_KEY, ids[0], NO_KEY]
        );
        let sparse: ArrayRef = Arc::new(Int64Array::from(vec![0, i64::MAX / 2]));
        let (idx, _, _) = KeyIndex::build(&[sparse]).unwrap();
        assert!(matches!(idx, KeyIndex::Int(_)));
    }

    #[test]
    fn composite_string_keys() {
        let a: ArrayRef = Arc::new(StringArray::from(vec!["x", "y", "x"]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 2]));
        let (idx, ids, n) = KeyIndex::build(&[a, b]).unwrap();
        assert_eq!((ids, n), (vec![0, 1, 2], 3));
        let a2: ArrayRef = Arc::new(StringArray::from(vec!["x", "x"]));
        let b2: ArrayRef = Arc::new(Int32Array::from(vec![2, 3]));
        let mut out = Vec::new();
        idx.lookup(&[a2, b2], &mut out).unwrap();
        assert_eq!(out, vec![2, NO_KEY]);
    }
}
