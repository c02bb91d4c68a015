//! Value statuses by name, as the server's native API and the cloud cache spell them.

use tessera_access::ValueStatus;

/// Parses `present`, `missing`, `expired`, `null`, `refused`, `stale`, `unavailable`.
pub(crate) fn parse_status(text: &str) -> Option<ValueStatus> {
    Some(match text {
        "present" => ValueStatus::Present,
        "missing" => ValueStatus::Missing,
        "expired" => ValueStatus::Expired,
        "null" => ValueStatus::Null,
        "refused" => ValueStatus::Refused,
        "stale" => ValueStatus::Stale,
        "unavailable" => ValueStatus::Unavailable,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips() {
        use ValueStatus as S;
        for s in [
            S::Present,
            S::Missing,
            S::Expired,
            S::Null,
            S::Refused,
            S::Stale,
            S::Unavailable,
        ] {
            assert_eq!(parse_status(s.as_str()), Some(s));
        }
        assert_eq!(parse_status("fresh"), None);
    }
}
