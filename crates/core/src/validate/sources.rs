//! Sources: a path and a format for file sources, a timestamp column, and the stream and
//! device rules of their kinds.

use crate::catalog::{Catalog, SOURCE};
use crate::definitions::SourceType;
use crate::error::ValidationError;

use super::names::check_name;
use super::problem;

pub(super) fn check_sources(c: &Catalog, errs: &mut Vec<ValidationError>) {
    for s in c.sources().values() {
        check_name(&s.name, SOURCE, c, errs);
        if s.source_type == SourceType::Device {
            // No files: checked by `check_device_source` below.
        } else if s.path.trim().is_empty() {
            errs.push(problem(
                c,
                SOURCE,
                &s.name,
                "has an empty `path`",
                "give a Parquet or CSV file or directory, relative to the repository",
            ));
        } else if s.resolved_format().is_none() {
            errs.push(problem(
                c,
                SOURCE,
                &s.name,
                format!("cannot tell the format of `{}`", s.path),
                "add `format: parquet` or `format: csv`",
            ));
        }
        if s.timestamp_field.trim().is_empty() {
            errs.push(problem(
                c,
                SOURCE,
                &s.name,
                "has an empty `timestamp_field`",
                "name the event-time column",
            ));
        }
        for (message, hint) in crate::stream_check::check_stream_source(s)
            .into_iter()
            .chain(crate::device_def::check_device_source(s))
        {
            errs.push(problem(c, SOURCE, &s.name, message, hint));
        }
    }
}
