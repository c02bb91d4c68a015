//! The first hour of a new user: a minimal `init`, what its commands print, and the errors
//! they meet (durations, typos, edited-but-not-applied definitions, a second server).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow::datatypes::{DataType, TimeUnit};

use super::{fails, ok, s, tessera};

fn minimal(d: &Path) -> String {
    let repo = d.join("shop");
    ok(&["init", s(&repo)]);
    s(&repo).to_string()
}

#[test]
fn init_writes_a_minimal_repository_that_works_end_to_end() {
    let d = tempfile::tempdir().unwrap();
    let r = minimal(d.path());
    let repo = Path::new(&r);
    for f in [
        "tessera.yaml",
        "features/customers.yaml",
        "data/customer_stats.csv",
        "data/spine.csv",
    ] {
        assert!(repo.join(f).exists(), "{f}");
    }
    let defs = std::fs::read_to_string(repo.join("features/customers.yaml")).unwrap();
    assert!(
        defs.contains("# A feature view"),
        "comments that teach: {defs}"
    );
    assert!(!repo.join("features/media.yaml").exists());
    let gitignore = std::fs::read_to_string(repo.join(".gitignore")).unwrap();
    assert!(gitignore.lines().any(|l| l == ".tessera/"), "{gitignore}");
    assert!(
        !gitignore
            .lines()
            .any(|l| l.trim_start_matches('/').starts_with("data")),
        "{gitignore}"
    );

    let plan = ok(&["plan", "--repo", &r]);
    assert!(plan.contains("+ feature_view `customer_stats`"), "{plan}");
    assert!(ok(&["apply", "--repo", &r]).contains("Registered version 1"));
    let out = repo.join("out/train.parquet");
    let t = ok(&[
        "training-set",
        "--repo",
        &r,
        "--spine",
        s(&repo.join("data/spine.csv")),
        "--service",
        "my_model_v1",
        "--out",
        s(&out),
    ]);
    assert!(t.contains("Wrote 9 rows"), "{t}");
    // The spine's ISO-8601 times come back as times with their zone.
    let file = std::fs::File::open(&out).unwrap();
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let field = reader
        .schema()
        .field_with_name("event_timestamp")
        .unwrap()
        .clone();
    assert_eq!(
        field.data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        "{field:?}"
    );
    assert!(ok(&["materialize", "--repo", &r, "--incremental", "-q"]).contains("customer_stats"));
    let get = tessera(&[
        "get",
        "--repo",
        &r,
        "--entity",
        "customer_id=1",
        "--features",
        "customer_stats:orders_7d",
        "--purpose",
        "personalization",
    ]);
    assert!(get.status.success());
    assert!(String::from_utf8_lossy(&get.stdout).contains("present"));
    assert!(
        String::from_utf8_lossy(&get.stderr).trim().is_empty(),
        "no stray lines on stderr"
    );
}

#[test]
fn init_help_names_the_templates_and_media_is_the_demo_repository() {
    let help = ok(&["init", "--help"]);
    assert!(
        help.contains("--template") && help.contains("media") && help.contains("minimal"),
        "{help}"
    );
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("media");
    ok(&["init", "--template", "media", s(&repo)]);
    assert!(repo.join("features/media.yaml").exists());
    let gitignore = std::fs::read_to_string(repo.join(".gitignore")).unwrap();
    assert!(
        !gitignore.lines().any(|l| l == "data/" || l == "/data/"),
        "{gitignore}"
    );
}

#[test]
fn every_command_has_an_example_in_its_help() {
    for cmd in [
        vec!["init"],
        vec!["plan"],
        vec!["apply"],
        vec!["registry", "history"],
        vec!["registry", "show"],
        vec!["training-set"],
        vec!["materialize"],
        vec!["get"],
        vec!["explain-request"],
        vec!["ingest"],
        vec!["serve"],
        vec!["catalog"],
        vec!["audit", "tail"],
        vec!["audit", "query"],
        vec!["device"],
        vec!["device", "get"],
        vec!["demo"],
        vec!["completions"],
        vec!["man"],
        vec!["doctor"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let help = ok(&args);
        assert!(
            help.contains("Example:\n  "),
            "tessera {} --help has no example:\n{help}",
            cmd.join(" ")
        );
    }
}

#[test]
fn completions_and_man_page() {
    for shell in ["bash", "zsh", "fish"] {
        let out = ok(&["completions", shell]);
        assert!(
            out.contains("tessera") && out.contains("training-set"),
            "{shell}"
        );
    }
    let man = ok(&["man"]);
    assert!(
        man.contains(".TH tessera") && man.contains("doctor"),
        "{man}"
    );
    let d = tempfile::tempdir().unwrap();
    ok(&["man", "--dir", s(d.path())]);
    assert!(d.path().join("tessera.1").exists() && d.path().join("tessera-init.1").exists());
    assert!(fails(&["completions", "tcsh"]).contains("tcsh"));
}

#[test]
fn durations_have_one_grammar_and_refusals_list_the_forms() {
    let d = tempfile::tempdir().unwrap();
    let r = minimal(d.path());
    let defs = Path::new(&r).join("features/customers.yaml");
    let text = std::fs::read_to_string(&defs).unwrap();
    for bad in ["90days", "7days", "1.5h"] {
        std::fs::write(&defs, text.replace("ttl: 30d", &format!("ttl: {bad}"))).unwrap();
        let e = fails(&["plan", "--repo", &r]);
        assert!(e.contains(&format!("`{bad}` is not a duration")), "{e}");
        assert!(e.contains("500ms, 90s, 15m, 1h, 7d, 2w, 1d12h"), "{e}");
    }
    std::fs::write(&defs, text.replace("ttl: 30d", "ttl: 1d12h")).unwrap();
    ok(&["plan", "--repo", &r]);
    // Command-line durations take the same grammar.
    let e = fails(&["serve", "--repo", &r, "--store-timeout", "2days"]);
    assert!(
        e.contains("`2days` is not a duration") && e.contains("1d12h"),
        "{e}"
    );
    let e = fails(&["device", "--repo", &r, "--cache-ttl", "90days", "session"]);
    assert!(e.contains("`90days` is not a duration"), "{e}");
}

#[test]
fn typos_get_a_did_you_mean_and_missing_columns_the_real_ones() {
    let d = tempfile::tempdir().unwrap();
    let r = minimal(d.path());
    let defs = Path::new(&r).join("features/customers.yaml");
    let text = std::fs::read_to_string(&defs).unwrap();
    std::fs::write(
        &defs,
        text.replace(
            "source: customer_stats_daily",
            "source: customer_stat_daily",
        ),
    )
    .unwrap();
    let e = fails(&["plan", "--repo", &r]);
    assert!(
        e.contains("unknown source `customer_stat_daily`")
            && e.contains("did you mean `customer_stats_daily`?"),
        "{e}"
    );
    // An aggregation or a filter over a column the source lacks: the source's real columns.
    let agg_only = text.replace(
        "\n# A purpose says",
        "  - name: customer_totals\n    entities: [customer]\n    source: customer_stats_daily\n    aggregations:\n      - { column: spend_7dd, function: sum, windows: [30d] }\n      - { function: count, windows: [30d], filter: \"categry = 'books'\", name: book_days }\n\n# A purpose says",
    );
    std::fs::write(&defs, agg_only).unwrap();
    let e = fails(&["plan", "--repo", &r]);
    assert!(
        e.contains("spend_7dd")
            && e.contains("customer_id, event_timestamp, favourite_category, orders_7d, spend_7d"),
        "{e}"
    );
    assert!(
        e.contains("categry"),
        "the filter's column is refused too: {e}"
    );
}

#[test]
fn an_edited_but_not_applied_feature_is_named_with_its_file() {
    let d = tempfile::tempdir().unwrap();
    let r = minimal(d.path());
    ok(&["apply", "--repo", &r]);
    let defs = Path::new(&r).join("features/customers.yaml");
    let text = std::fs::read_to_string(&defs).unwrap();
    std::fs::write(
        &defs,
        text.replace(
            "      - { name: favourite_category",
            "      - { name: orders_7d_copy, type: int64, classification: internal, column: orders_7d }\n      - { name: favourite_category",
        ),
    )
    .unwrap();
    let e = fails(&[
        "get",
        "--repo",
        &r,
        "--entity",
        "customer_id=1",
        "--features",
        "customer_stats:orders_7d_copy",
        "--purpose",
        "personalization",
    ]);
    assert!(
        e.contains("`customer_stats:orders_7d_copy` is defined in features/customers.yaml but not registered (hint: `tessera apply"),
        "{e}"
    );
    // A typo of a registered feature is a typo, with a suggestion.
    let e = fails(&[
        "explain-request",
        "--repo",
        &r,
        "--features",
        "customer_stats:order_7d",
        "--purpose",
        "personalization",
    ]);
    assert!(e.contains("did you mean `orders_7d`?"), "{e}");
}

#[test]
fn yaml_indentation_errors_name_the_likely_cause() {
    let d = tempfile::tempdir().unwrap();
    let r = minimal(d.path());
    let defs = Path::new(&r).join("features/customers.yaml");
    let text = std::fs::read_to_string(&defs).unwrap();
    std::fs::write(
        &defs,
        text.replace("    entities: [customer]\n", "      entities: [customer]\n"),
    )
    .unwrap();
    let e = fails(&["plan", "--repo", &r]);
    assert!(e.contains("indentation"), "{e}");
}

#[test]
fn doctor_says_what_to_fix() {
    let d = tempfile::tempdir().unwrap();
    let r = minimal(d.path());
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["doctor", "--repo", &r])
        .env_remove("TESSERA_TOKEN_MY_APP")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok    definitions valid"), "{text}");
    assert!(
        text.contains("warn  nothing is registered yet")
            && text.contains("fix: run `tessera apply"),
        "{text}"
    );
    assert!(
        text.contains("TESSERA_TOKEN_MY_APP is not set")
            && text.contains("fix: export TESSERA_TOKEN_MY_APP="),
        "{text}"
    );
    assert!(text.contains("ok    the embedded online store"), "{text}");
    ok(&["apply", "--repo", &r]);
    std::fs::remove_file(Path::new(&r).join("data/customer_stats.csv")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["doctor", "--repo", &r])
        .env("TESSERA_TOKEN_MY_APP", "a-secret")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("FAIL") && text.contains("customer_stats.csv"),
        "{text}"
    );
    assert!(text.contains("its token is set"), "{text}");
}

#[test]
fn doctor_checks_each_pseudonymisation_key() {
    let d = tempfile::tempdir().unwrap();
    let r = minimal(d.path());
    std::fs::write(
        Path::new(&r).join("features/analytics.yaml"),
        "purposes:\n  - name: analytics\n    allows: [public, internal]\n    minimise:\n      customer_stats:favourite_category: { pseudonymise: { key_env: TESSERA_DOCTOR_TEST_KEY } }\n",
    )
    .unwrap();
    let doctor = |key: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tessera"));
        c.args(["doctor", "--repo", &r])
            .env("TESSERA_TOKEN_MY_APP", "a-secret");
        match key {
            Some(k) => c.env("TESSERA_DOCTOR_TEST_KEY", k),
            None => c.env_remove("TESSERA_DOCTOR_TEST_KEY"),
        };
        let out = c.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let (passed, text) = doctor(None);
    assert!(!passed, "{text}");
    assert!(
        text.contains("FAIL  purpose `analytics`: pseudonymises customer_stats:favourite_category with the key in $TESSERA_DOCTOR_TEST_KEY: it is not set")
            && text.contains("fix: export TESSERA_DOCTOR_TEST_KEY=$(openssl rand -hex 32)"),
        "{text}"
    );
    let (passed, text) = doctor(Some("too-short"));
    assert!(!passed, "{text}");
    assert!(
        text.contains("it is only 9 bytes long (at least 16 are needed"),
        "{text}"
    );
    let (passed, text) = doctor(Some("0123456789abcdef0123456789abcdef"));
    assert!(passed, "{text}");
    assert!(
        text.contains("ok    purpose `analytics`: pseudonymises customer_stats:favourite_category with the key in $TESSERA_DOCTOR_TEST_KEY: set (32 bytes)"),
        "{text}"
    );
}

#[test]
fn audit_names_the_uid_when_user_is_unset_and_tables_fit_the_terminal() {
    let d = tempfile::tempdir().unwrap();
    let r = minimal(d.path());
    ok(&["apply", "--repo", &r]);
    let spine = Path::new(&r).join("data/spine.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "training-set",
            "--repo",
            &r,
            "--spine",
            s(&spine),
            "--service",
            "my_model_v1",
            "--out",
            s(&d.path().join("t.parquet")),
        ])
        .env_remove("USER")
        .env_remove("LOGNAME")
        .output()
        .unwrap();
    assert!(out.status.success());
    let audit = ok(&["audit", "tail", "--repo", &r, "-n", "1", "--json"]);
    assert!(audit.contains("\"local:"), "{audit}");
    assert!(!audit.contains("local:unknown"), "{audit}");

    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["catalog", "--repo", &r])
        .env("COLUMNS", "50")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().all(|l| l.chars().count() <= 50), "{text}");
    assert!(text.contains('…'), "{text}");
}

#[test]
fn a_second_server_on_one_repository_names_the_first() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("media");
    let r = s(&repo);
    ok(&["init", "--template", "media", r]);
    ok(&["apply", "--repo", r]);
    let mut first = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "serve",
            "--repo",
            r,
            "--addr",
            "127.0.0.1:0",
            "--auth",
            "none",
            "--default-purpose",
            "ranking",
            "--no-nats",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = first.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server printed its address")
            .unwrap();
        if let Some(rest) = line.split("on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let owner = repo.join(".tessera/stream/owner.json");
    let started = Instant::now();
    while !std::fs::read_to_string(&owner).is_ok_and(|t| t.contains(&addr)) {
        assert!(started.elapsed() < Duration::from_secs(60), "no owner file");
        std::thread::sleep(Duration::from_millis(50));
    }
    let e = fails(&[
        "serve",
        "--repo",
        r,
        "--addr",
        "127.0.0.1:0",
        "--auth",
        "none",
        "--default-purpose",
        "ranking",
        "--no-nats",
    ]);
    let pid = first.id().to_string();
    assert!(
        e.contains(&format!("already open in process {pid}")) && e.contains(&addr),
        "{e}"
    );
    assert!(!e.contains("Database already open"), "{e}");
    unsafe_sigterm(first.id());
    assert!(first.wait().unwrap().success());
    assert!(!owner.exists(), "the owner file is removed on a clean stop");
}

fn unsafe_sigterm(pid: u32) {
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
}
