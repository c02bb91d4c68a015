//! An example for every command's `--help`, in one table so that none is forgotten: a test
//! walks every (sub)command of the CLI and fails on one without an example.

use clap::Command;

/// (command path, example lines).
const EXAMPLES: &[(&[&str], &str)] = &[
    (&["init"], "tessera init my_features                  # a minimal repository over a CSV\n  tessera init --template media media_demo   # the full media demo repository"),
    (&["plan"], "tessera plan --repo my_features"),
    (&["apply"], "tessera apply --repo my_features"),
    (&["registry"], "tessera registry history --repo my_features"),
    (&["registry", "history"], "tessera registry history --repo my_features"),
    (&["registry", "show"], "tessera registry show --repo my_features --version 1 --format json"),
    (&["training-set"], "tessera training-set --repo my_features --spine my_features/data/spine.csv \\\n      --service my_model_v1 --out train.parquet"),
    (&["materialize"], "tessera materialize --repo my_features --incremental"),
    (&["get"], "tessera get --repo my_features --entity customer_id=1 --features customer_stats:orders_7d,customer_stats:spend_7d"),
    (&["explain-request"], "tessera explain-request --repo my_features --service my_model_v1"),
    (&["ingest"], "tessera ingest --repo media_demo --report-every 10"),
    (&["serve"], "TESSERA_TOKEN_MY_APP=secret tessera serve --repo my_features --addr 127.0.0.1:6566"),
    (&["catalog"], "tessera catalog --repo my_features"),
    (&["audit"], "tessera audit tail --repo my_features -n 5"),
    (&["audit", "tail"], "tessera audit tail --repo my_features -n 5"),
    (&["audit", "query"], "tessera audit query --repo my_features --consumer my_app"),
    (&["device"], "tessera device --repo media_demo --dir /tmp/device get --entity user_id=7 --features device_session:network"),
    (&["device", "record"], "tessera device --repo media_demo --dir /tmp/device record device_plays --event '{\"user_id\": 7, \"item_id\": 3}'"),
    (&["device", "get"], "tessera device --repo media_demo --dir /tmp/device get --entity user_id=7 --features device_recent:plays_1h"),
    (&["device", "session"], "echo '{\"get\": [\"device_recent:plays_1h\"], \"entities\": {\"user_id\": [7]}}' | tessera device --repo media_demo session"),
    (&["device", "ldp-report"], "tessera device --repo media_demo --dir /tmp/device --server http://127.0.0.1:6566 --token-env TESSERA_TOKEN_MOBILE_APP ldp-report genre_plays --entity user_id=7"),
    (&["demo"], "tessera demo /tmp/tessera-demo"),
    (&["completions"], "tessera completions bash > ~/.local/share/bash-completion/completions/tessera"),
    (&["man"], "tessera man > tessera.1 && man ./tessera.1\n  tessera man --dir man/   # one page per command"),
    (&["doctor"], "tessera doctor --repo my_features"),
    (&["online"], "tessera online repair --repo my_features --view customer_stats            # list rows stamped beyond the future bound"),
    (&["online", "repair"], "tessera online repair --repo my_features --view customer_stats --entity customer_id=1 --drop-future"),
    (&["consent"], "tessera consent set --repo media_demo --purpose ads --entity user_id=1 --state granted"),
    (&["consent", "set"], "tessera consent set --repo media_demo --purpose ads --entity user_id=1 --entity user_id=2 --state withdrawn --at 2026-12-01T00:00:00Z"),
    (&["consent", "import"], "tessera consent import --repo media_demo consent.csv   # header: entity,purpose,state,at (at optional)"),
    (&["consent", "sync"], "tessera consent sync --repo media_demo   # reads tessera.yaml's `consent: { source: consent_events, entity: user_id, ... }`"),
    (&["compact"], "tessera compact --repo media_demo   # while no serve/ingest runs on the repository"),
    (&["erase"], "tessera erase --repo media_demo --entity user_id=42 --verify   # --rewrite-sources also rewrites batch sources; --json"),
    (&["retention"], "tessera retention apply --repo media_demo --dry-run"),
    (&["subject-report"], "tessera subject-report --repo media_demo --entity user_id=42 --json"),
    (&["ldp"], "tessera ldp simulate --mechanism cms --epsilon 4 --k 16 --m 1024 --devices 100000 --domain 50 --distribution zipf:1.1 --seed 1"),
    (&["ldp", "simulate"], "tessera ldp simulate --mechanism hcms --epsilon 4 --k 16 --m 1024 --devices 1000000 --domain 100 --distribution zipf:1.1 --seed 7 --top 10 --json"),
    (&["ldp", "estimate"], "tessera ldp estimate --repo media_demo --report genre_plays --purpose analytics\n  tessera ldp estimate --repo media_demo --report genre_plays --purpose analytics --candidates genres.txt --json"),
    (&["release"], "tessera release --repo media_demo --consumer dashboard --purpose analytics --name plays_per_genre --rho 0.05\n  tessera release --repo media_demo --consumer dashboard --purpose analytics --query sum --source item_catalog \\\n      --entity item --column duration_s --lo 0 --hi 3600 --group-by genre --domain pop,rock --max-rows 1 --epsilon 0.5 --json\n  tessera release --repo media_demo --consumer dashboard --purpose analytics --query adhoc.json --rho 0.05"),
    (&["budget"], "tessera budget show --repo media_demo"),
    (&["budget", "show"], "tessera budget show --repo media_demo --consumer dashboard --json"),
    (&["retention", "apply"], "tessera retention apply --repo media_demo --json   # what was removed, per tier"),
];

/// The example of one command path, if there is one.
pub(crate) fn example(path: &[&str]) -> Option<&'static str> {
    EXAMPLES.iter().find(|(p, _)| *p == path).map(|(_, e)| *e)
}

/// Adds the examples to `cmd`'s subcommands (as the end of their `--help`).
pub(crate) fn with_examples(mut cmd: Command) -> Command {
    fn walk(cmd: &mut Command, path: &mut Vec<String>) {
        for sub in cmd.get_subcommands_mut() {
            path.push(sub.get_name().to_string());
            let key: Vec<&str> = path.iter().map(String::as_str).collect();
            if let Some(text) = example(&key) {
                let owned = std::mem::take(sub);
                *sub = owned.after_help(format!("Example:\n  {text}"));
            }
            walk(sub, path);
            path.pop();
        }
    }
    walk(&mut cmd, &mut Vec::new());
    cmd.after_help(
        "Example:\n  tessera init my_features && tessera apply --repo my_features\n\nRun `tessera <command> --help` for each command's options and an example.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_an_example() {
        use clap::CommandFactory;
        fn walk(cmd: &Command, path: &mut Vec<String>, missing: &mut Vec<String>) {
            for sub in cmd.get_subcommands() {
                if sub.get_name() == "help" {
                    continue;
                }
                path.push(sub.get_name().to_string());
                let help = sub
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                if !help.contains("Example:\n  tessera")
                    && !help.contains("Example:\n  echo")
                    && !help.contains("Example:\n  TESSERA_")
                {
                    missing.push(path.join(" "));
                }
                walk(sub, path, missing);
                path.pop();
            }
        }
        let cmd = with_examples(crate::Cli::command());
        let mut missing = Vec::new();
        walk(&cmd, &mut Vec::new(), &mut missing);
        assert!(
            missing.is_empty(),
            "commands without an example: {missing:?}"
        );
        // Every example belongs to a real command.
        for (path, _) in EXAMPLES {
            let mut c = &cmd;
            for name in *path {
                c = c
                    .find_subcommand(name)
                    .unwrap_or_else(|| panic!("no command {path:?}"));
            }
        }
    }
}
