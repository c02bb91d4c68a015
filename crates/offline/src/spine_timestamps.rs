//! ISO-8601 times in a CSV spine: a column whose every value is a date-time with a zone
//! (`2026-12-05T00:00:00Z`, `…00.250+02:00`) becomes a timestamp column that keeps the zone,
//! so the training set gives back the spine's times as times (not text, not integers, not
//! naive). One offset throughout is kept as the column's zone (`Z` and `+00:00` as `UTC`);
//! mixed offsets become `UTC` (the instants are unchanged). Fractions finer than a
//! microsecond keep nanoseconds.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, TimestampMicrosecondArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, FixedOffset};

use crate::error::Result;

/// For a CSV spine file read into `batch`: every column that the file holds as zoned
/// ISO-8601 date-times (read by type inference as text, or as naive timestamps, which lose
/// the zone) becomes a timestamp column with its zone. Other columns are unchanged.
pub(crate) fn zoned_csv_times(path: &Path, batch: RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    let candidates: Vec<usize> = (0..schema.fields().len())
        .filter(|i| {
            matches!(
                schema.field(*i).data_type(),
                DataType::Timestamp(_, None)
                    | DataType::Utf8
                    | DataType::LargeUtf8
                    | DataType::Utf8View
            )
        })
        .collect();
    if candidates.is_empty() || !path.is_file() {
        return Ok(batch);
    }
    let Some(raw) = read_as_text(path, &schema)? else {
        return Ok(batch);
    };
    if raw.num_rows() != batch.num_rows() {
        return Ok(batch);
    }
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    let mut changed = false;
    for i in candidates {
        if let Some(times) = as_times(raw.column(i)) {
            let f = schema.field(i);
            fields[i] = Field::new(f.name(), times.data_type().clone(), f.is_nullable())
                .with_metadata(f.metadata().clone());
            columns[i] = times;
            changed = true;
        }
    }
    if !changed {
        return Ok(batch);
    }
    let schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// The file's columns as text, in file order (`None` if it cannot be read that way).
fn read_as_text(path: &Path, inferred: &Schema) -> Result<Option<RecordBatch>> {
    let text_schema = Arc::new(Schema::new(
        inferred
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let delimiter = match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("tsv") => b'\t',
        _ => b',',
    };
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(None);
    };
    let Ok(reader) = arrow::csv::ReaderBuilder::new(text_schema.clone())
        .with_header(true)
        .with_delimiter(delimiter)
        .build(file)
    else {
        return Ok(None);
    };
    let batches: std::result::Result<Vec<RecordBatch>, _> = reader.collect();
    let Ok(batches) = batches else {
        return Ok(None);
    };
    Ok(Some(arrow::compute::concat_batches(
        &text_schema,
        &batches,
    )?))
}

/// The column as zoned timestamps, if it is text and every value is a zoned date-time.
fn as_times(column: &ArrayRef) -> Option<ArrayRef> {
    let texts: Vec<Option<&str>> = match column.data_type() {
        DataType::Utf8 => column.as_string::<i32>().iter().collect(),
        DataType::LargeUtf8 => column.as_string::<i64>().iter().collect(),
        DataType::Utf8View => column.as_string_view().iter().collect(),
        _ => return None,
    };
    let mut parsed: Vec<Option<DateTime<FixedOffset>>> = Vec::with_capacity(texts.len());
    let mut offset: Option<Option<i32>> = None; // None: no value yet; Some(None): mixed
    let mut nanos = false;
    for t in &texts {
        let Some(t) = t.map(str::trim).filter(|t| !t.is_empty()) else {
            parsed.push(None);
            continue;
        };
        let dt = DateTime::parse_from_rfc3339(t).ok()?;
        let secs = dt.offset().local_minus_utc();
        offset = match offset {
            None => Some(Some(secs)),
            Some(Some(o)) if o == secs => Some(Some(o)),
            _ => Some(None),
        };
        nanos |= dt.timestamp_subsec_nanos() % 1_000 != 0;
        parsed.push(Some(dt));
    }
    let zone = match offset? {
        Some(0) | None => "UTC".to_string(),
        Some(secs) => format_offset(secs),
    };
    let array: ArrayRef = if nanos {
        let values: Option<Vec<Option<i64>>> = parsed
            .iter()
            .map(|d| match d {
                None => Some(None),
                Some(d) => d.timestamp_nanos_opt().map(Some),
            })
            .collect();
        Arc::new(TimestampNanosecondArray::from(values?).with_timezone(zone))
    } else {
        let values: Vec<Option<i64>> = parsed
            .iter()
            .map(|d| d.map(|d| d.timestamp_micros()))
            .collect();
        Arc::new(TimestampMicrosecondArray::from(values).with_timezone(zone))
    };
    Some(array)
}

/// `+02:00`, `-05:30`.
fn format_offset(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let m = secs.unsigned_abs() / 60;
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;
    use arrow::datatypes::TimeUnit;

    fn convert(values: Vec<Option<&str>>) -> Option<ArrayRef> {
        as_times(&(Arc::new(StringArray::from(values)) as ArrayRef))
    }

    #[test]
    fn zoned_texts_become_zoned_timestamps() {
        let a = convert(vec![
            Some("2026-12-05T00:00:00Z"),
            None,
            Some("2026-12-05T00:00:00.5Z"),
        ])
        .unwrap();
        assert_eq!(
            a.data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert!(a.is_null(1));
        let a = convert(vec![Some("2026-12-05T02:00:00+02:00")]).unwrap();
        assert_eq!(
            a.data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("+02:00".into()))
        );
        let a = convert(vec![Some("2026-12-05T00:00:00.123456789Z")]).unwrap();
        assert_eq!(
            a.data_type(),
            &DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
        );
        let a = convert(vec![
            Some("2026-12-05T02:00:00+02:00"),
            Some("2026-12-05T00:00:00Z"),
        ])
        .unwrap();
        assert_eq!(
            a.data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
    }

    #[test]
    fn other_texts_stay_text() {
        assert!(convert(vec![Some("2026-12-05T00:00:00Z"), Some("soon")]).is_none());
        assert!(convert(vec![Some("2026-12-05 00:00:00")]).is_none());
        assert!(convert(vec![None]).is_none());
    }
}
