//! The accountant: composition, refusal, periods, crash safety, concurrent processes.

use std::io::Write;

use tessera_dp::{Accountant, Budget, Cost, Error};

const DAY_US: i64 = 86_400_000_000;

fn budget(rho: f64) -> Budget {
    Budget {
        rho,
        delta: 1e-6,
        period_us: 30 * DAY_US,
        per: "30d".into(),
    }
}

#[test]
fn costs_compose_by_addition_and_the_excess_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = Accountant::for_repo(dir.path());
    let b = budget(0.5);
    let now = 100 * DAY_US;
    for i in 1..=4 {
        let s = a
            .charge("dash", "analytics", &b, &Cost::rho(0.1), "q", now)
            .unwrap();
        assert!((s.spent_rho - 0.1 * f64::from(i)).abs() < 1e-12);
    }
    // ε = 0.3 costs ρ = 0.045: fits in the 0.1 left.
    let s = a
        .charge("dash", "analytics", &b, &Cost::epsilon(0.3), "q", now)
        .unwrap();
    assert!((s.remaining_rho() - 0.055).abs() < 1e-12, "{s:?}");
    let err = a
        .charge("dash", "analytics", &b, &Cost::rho(0.1), "q", now)
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::BudgetExceeded { .. }), "{msg}");
    assert!(
        msg.contains("ρ = 0.055") && msg.contains("of ρ = 0.5"),
        "{msg}"
    );
    let (_, end) = b.period_at(now);
    let reset = chrono::DateTime::from_timestamp_micros(end)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(msg.contains(&reset), "{msg}");
    // The refused release left no line; other (consumer, purpose) pairs are separate.
    let s = a.status("dash", "analytics", &b, now).unwrap();
    assert_eq!(s.releases, 5);
    let other = a.status("dash", "ranking", &b, now).unwrap();
    assert_eq!(other.spent_rho, 0.0);
    // The next period starts afresh.
    let later = a.status("dash", "analytics", &b, end).unwrap();
    assert_eq!((later.spent_rho, later.releases), (0.0, 0));
    a.charge("dash", "analytics", &b, &Cost::rho(0.5), "q", end)
        .unwrap();
}

#[test]
fn a_torn_last_line_is_ignored_and_cut_by_the_next_writer() {
    let dir = tempfile::tempdir().unwrap();
    let a = Accountant::for_repo(dir.path());
    let b = budget(1.0);
    a.charge("c", "p", &b, &Cost::rho(0.25), "q", DAY_US)
        .unwrap();
    // A crash mid-append: half a line, no newline.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(a.journal())
        .unwrap();
    f.write_all(br#"{"at_us":86400000000,"consumer":"c","purpose":"p","rho":0.7"#)
        .unwrap();
    drop(f);
    let s = a.status("c", "p", &b, DAY_US).unwrap();
    assert_eq!((s.spent_rho, s.releases), (0.25, 1));
    a.charge("c", "p", &b, &Cost::rho(0.5), "q", DAY_US)
        .unwrap();
    let text = std::fs::read_to_string(a.journal()).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.ends_with('\n'));
    assert_eq!(a.status("c", "p", &b, DAY_US).unwrap().spent_rho, 0.75);
    // A damaged line in the middle is not guessed at: the spent budget is unknown.
    std::fs::write(a.journal(), format!("garbage\n{text}")).unwrap();
    let err = a.status("c", "p", &b, DAY_US).unwrap_err();
    assert!(err.to_string().contains("line 1 is damaged"), "{err}");
}

#[test]
fn concurrent_writers_never_overspend() {
    let dir = tempfile::tempdir().unwrap();
    let b = budget(1.0);
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let root = dir.path().to_path_buf();
            let b = b.clone();
            std::thread::spawn(move || {
                let a = Accountant::for_repo(&root);
                (0..5)
                    .filter(|_| a.charge("c", "p", &b, &Cost::rho(0.1), "q", DAY_US).is_ok())
                    .count()
            })
        })
        .collect();
    let ok: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(ok, 10, "ten releases of 0.1 fit in 1.0");
    let s = Accountant::for_repo(dir.path())
        .status("c", "p", &b, DAY_US)
        .unwrap();
    assert!(s.spent_rho <= 1.0 + 1e-9 && s.releases as usize == ok);
}
