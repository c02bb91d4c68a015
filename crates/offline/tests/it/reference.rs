//! An independent, brute-force statement of the point-in-time rule.

/// One source row, times in seconds.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub key: Option<i64>,
    pub ts: Option<i64>,
    pub created: Option<i64>,
    pub value: Option<f64>,
    pub row_id: i64,
}

/// For each spine (key, ts): the row_id the rule picks, by looking at every row.
pub(crate) fn pit(
    rows: &[Row],
    spine: &[(Option<i64>, i64)],
    ttl: Option<i64>,
) -> Vec<Option<i64>> {
    spine
        .iter()
        .map(|&(key, t)| {
            let key = key?;
            rows.iter()
                .filter(|r| r.key == Some(key))
                .filter(|r| {
                    r.ts.is_some_and(|ts| ts <= t && ttl.is_none_or(|ttl| ts >= t - ttl))
                })
                // None < Some(_) for `created`: a null created time loses every tie.
                .max_by_key(|r| (r.ts, r.created))
                .map(|r| r.row_id)
        })
        .collect()
}
