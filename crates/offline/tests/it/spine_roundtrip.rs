//! Spine columns pass through unchanged: every column type a spine holds comes back from
//! `read_spine` with its type (timestamps with their zone and unit) and its values, from a
//! Parquet spine and from a CSV spine (whose times are ISO-8601 text with a zone).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray,
    TimestampMicrosecondArray, TimestampNanosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, FixedOffset, NaiveDate};
use proptest::prelude::*;
use tessera_offline::read_spine;

#[derive(Debug, Clone)]
struct Row {
    id: i64,
    score: f64,
    flag: bool,
    name: String,
    day: i32,
    ts_utc: i64,
    ts_offset: i64,
    ts_nanos: i64,
}

/// 2000-01-01 .. 2040-01-01 in µs.
const FROM: i64 = 946_684_800_000_000;
const TO: i64 = 2_208_988_800_000_000;

fn row() -> impl Strategy<Value = Row> {
    (
        any::<i64>(),
        -1_000_000i64..1_000_000,
        any::<bool>(),
        "[a-z][a-z0-9_]{0,8}",
        0i32..25_000,
        FROM..TO,
        FROM..TO,
        (FROM..TO, 1i64..1000),
    )
        .prop_map(
            |(id, s, flag, name, day, ts_utc, ts_offset, (ts, ns))| Row {
                id,
                score: s as f64 + 0.25,
                flag,
                name: format!("n{name}"),
                day,
                ts_utc,
                ts_offset,
                ts_nanos: ts * 1000 + ns,
            },
        )
}

fn batch(rows: &[Row]) -> RecordBatch {
    let utc = Some(Arc::<str>::from("UTC"));
    let plus2 = Some(Arc::<str>::from("+02:00"));
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("score", DataType::Float64, true),
        Field::new("flag", DataType::Boolean, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("day", DataType::Date32, true),
        Field::new(
            "ts_utc",
            DataType::Timestamp(TimeUnit::Microsecond, utc),
            true,
        ),
        Field::new(
            "ts_offset",
            DataType::Timestamp(TimeUnit::Microsecond, plus2),
            true,
        ),
        Field::new(
            "ts_nanos",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            true,
        ),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.id))),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.score))),
        Arc::new(BooleanArray::from(
            rows.iter().map(|r| r.flag).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.name.as_str()),
        )),
        Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| r.day))),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.ts_utc))
                .with_timezone("UTC"),
        ),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.ts_offset))
                .with_timezone("+02:00"),
        ),
        Arc::new(
            TimestampNanosecondArray::from_iter_values(rows.iter().map(|r| r.ts_nanos))
                .with_timezone("UTC"),
        ),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

fn iso(micros_or_nanos: i64, nanos: bool, offset_secs: i32) -> String {
    let (secs, sub) = if nanos {
        (
            micros_or_nanos.div_euclid(1_000_000_000),
            micros_or_nanos.rem_euclid(1_000_000_000),
        )
    } else {
        (
            micros_or_nanos.div_euclid(1_000_000),
            micros_or_nanos.rem_euclid(1_000_000) * 1000,
        )
    };
    let t = DateTime::from_timestamp(secs, sub as u32)
        .unwrap()
        .with_timezone(&FixedOffset::east_opt(offset_secs).unwrap());
    if nanos {
        t.format("%Y-%m-%dT%H:%M:%S%.9f%:z").to_string()
    } else if offset_secs == 0 {
        t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.6f%:z").to_string()
    }
}

fn csv(rows: &[Row]) -> String {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let mut out = String::from("id,score,flag,name,day,ts_utc,ts_offset,ts_nanos\n");
    for r in rows {
        let day = epoch + chrono::Days::new(r.day as u64);
        out.push_str(&format!(
            "{},{:?},{},{},{},{},{},{}\n",
            r.id,
            r.score,
            r.flag,
            r.name,
            day.format("%Y-%m-%d"),
            iso(r.ts_utc, false, 0),
            iso(r.ts_offset, false, 7200),
            iso(r.ts_nanos, true, 0),
        ));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_spine_column_round_trips_through_parquet_and_csv(
        rows in proptest::collection::vec(row(), 1..30)
    ) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let expected = batch(&rows);

        let parquet = dir.path().join("spine.parquet");
        let file = std::fs::File::create(&parquet).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(file, expected.schema(), None).unwrap();
        w.write(&expected).unwrap();
        w.close().unwrap();
        let got = rt.block_on(read_spine(&parquet)).unwrap();
        prop_assert_eq!(got.schema(), expected.schema());
        prop_assert_eq!(&got, &expected);

        let csv_path = dir.path().join("spine.csv");
        std::fs::write(&csv_path, csv(&rows)).unwrap();
        let got = rt.block_on(read_spine(&csv_path)).unwrap();
        let (got_schema, expected_schema) = (got.schema(), expected.schema());
        for (g, e) in got_schema.fields().iter().zip(expected_schema.fields()) {
            prop_assert_eq!(g.data_type(), e.data_type(), "column {}", e.name());
        }
        prop_assert_eq!(got.columns(), expected.columns());
    }
}
