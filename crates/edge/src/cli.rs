//! The `tessera-device` command line (also `tessera device`): a simulated device for tests
//! and demos, over the same [`crate::Device`] an app embeds.
//!
//! ```text
//! tessera-device --repo R --dir D record device_plays --event '{"user_id": 7, "dwell_s": 42}'
//! tessera-device --repo R --dir D --server http://127.0.0.1:6566 --token-env TOKEN \
//!     get --entity user_id=7 --features recent_plays:count_1h,user_activity:plays_1d
//! tessera-device --repo R --dir D session < script.jsonl     # one JSON command per line
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tessera_access::wire::json_value;
use tessera_online::{KeyValue, Value};

use crate::device::{Device, RequestContext};
use crate::device_config::DeviceConfig;
use crate::device_definitions::catalog_from_repo;
use crate::device_values::DeviceValues;
use crate::error::{Error, Result};
use crate::event::Event;

/// A simulated device: records device signals into its local store and reads features
/// through the device runtime (device features locally, cloud features from a Tessera
/// server, cached).
#[derive(Debug, Parser)]
#[command(name = "tessera-device", version)]
pub struct DeviceArgs {
    /// The feature repository whose definitions the device uses (device and cloud views).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The device's directory: local store, cloud cache, audit log.
    #[arg(long, default_value = ".tessera-device")]
    pub dir: PathBuf,
    /// The Tessera server for cloud features (`http://host:port`); none: offline.
    #[arg(long, env = "TESSERA_DEVICE_SERVER")]
    pub server: Option<String>,
    /// The environment variable holding this device's bearer token on the server.
    #[arg(long, default_value = "TESSERA_DEVICE_TOKEN")]
    pub token_env: String,
    /// The purpose of reads.
    #[arg(long, default_value = "personalization")]
    pub purpose: String,
    /// The consumer reads are checked as locally (default: the device's user).
    #[arg(long)]
    pub consumer: Option<String>,
    /// The longest a read waits for the remote server; a duration (`250ms`, `1s`; `--cloud-timeout` is accepted too, its former name).
    #[arg(long, value_name = "DURATION", default_value = "250ms", alias = "cloud-timeout", value_parser = tessera_core::parse_duration_flag)]
    pub remote_timeout: Duration,
    /// How long cached cloud values are fresh; a duration (`5m`, `1h`, `0s`).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = tessera_core::parse_duration_flag)]
    pub cache_ttl: Duration,
    /// Per view: `VIEW=DURATION` (repeatable), instead of --cache-ttl.
    #[arg(long = "cache-ttl-view", value_name = "VIEW=DURATION")]
    pub cache_ttl_view: Vec<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: DeviceCommand,
}

/// The device commands.
#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Records events of a `type: device` source (JSON objects; the source's timestamp
    /// field as ISO 8601, or left out for now).
    Record {
        /// The device source.
        source: String,
        /// One event as a JSON object (repeatable).
        #[arg(long = "event", value_name = "JSON")]
        events: Vec<String>,
        /// A file of events, one JSON object per line (`-`: standard input).
        #[arg(long)]
        events_file: Option<PathBuf>,
    },
    /// Reads features for entities and prints each value with its status.
    Get {
        /// `view:feature` references, comma-separated (`view:*` for a whole view).
        #[arg(long, required = true)]
        features: String,
        /// `join_key=value` (repeatable; integers unless quoted: `item_id="a7"`).
        #[arg(long = "entity", value_name = "KEY=VALUE", required = true)]
        entities: Vec<String>,
        /// Request context `name=value` (repeatable); it stays on the device.
        #[arg(long = "context", value_name = "NAME=VALUE")]
        context: Vec<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Runs a scripted session from standard input, one JSON command per line:
    /// `{"record": SOURCE, "event": {...}}` or
    /// `{"get": ["view:feature", ...], "entities": {"user_id": [7]}, "context": {...}}`;
    /// prints one JSON line per `get`.
    Session,
    /// Sends one local-DP report (`ldp_reports:`) of the entity's value: randomised on the
    /// device, charged to the device's ε cap (refused beyond it), with no identifier.
    #[command(name = "ldp-report")]
    LdpReport {
        /// The `ldp_reports:` definition.
        report: String,
        /// The device's user: `join_key=value`.
        #[arg(long = "entity", value_name = "KEY=VALUE")]
        entity: String,
    },
}

/// Runs the command line given as arguments (the first is the program name).
pub fn run_from<I, T>(args: I) -> Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args = DeviceArgs::try_parse_from(args).map_err(|e| match e.kind() {
        clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
            let _ = e.print();
            std::process::exit(0)
        }
        _ => Error::BadInput {
            message: e.to_string().trim_end().to_string(),
            hint: "see `tessera-device --help`".into(),
        },
    })?;
    run(args)
}

/// Runs parsed arguments.
pub fn run(args: DeviceArgs) -> Result<()> {
    let catalog = catalog_from_repo(&args.repo)?;
    let mut by_view = BTreeMap::new();
    for spec in &args.cache_ttl_view {
        let (view, ttl) = spec
            .split_once('=')
            .ok_or_else(|| Error::BadInput {
                message: format!("--cache-ttl-view `{spec}` is not VIEW=DURATION"),
                hint: "e.g. --cache-ttl-view user_activity=1h".into(),
            })
            .and_then(|(v, d)| {
                let ttl = tessera_core::parse_duration(d).map_err(|e| Error::BadInput {
                    message: format!("--cache-ttl-view `{spec}`: {e}"),
                    hint: "e.g. --cache-ttl-view user_activity=1h".into(),
                })?;
                Ok((v.to_string(), ttl))
            })?;
        by_view.insert(view, ttl);
    }
    let config = DeviceConfig {
        server_url: args.server.clone(),
        token: std::env::var(&args.token_env)
            .ok()
            .filter(|t| !t.is_empty()),
        consumer: args.consumer.clone(),
        purpose: args.purpose.clone(),
        remote_timeout: args.remote_timeout,
        cache_ttl: args.cache_ttl,
        cache_ttl_by_view: by_view,
        ..DeviceConfig::default()
    };
    let device = Device::open(&args.dir, catalog, config)?;
    let out = std::io::stdout();
    let mut out = out.lock();
    match args.command {
        DeviceCommand::Record {
            source,
            events,
            events_file,
        } => {
            let mut parsed = Vec::new();
            for (i, text) in events.iter().enumerate() {
                parsed.push(event_from_json(
                    &device,
                    &source,
                    text,
                    &format!("--event {}", i + 1),
                )?);
            }
            if let Some(path) = events_file {
                for (i, line) in read_lines(&path)?.iter().enumerate() {
                    if !line.trim().is_empty() {
                        parsed.push(event_from_json(
                            &device,
                            &source,
                            line,
                            &format!("line {}", i + 1),
                        )?);
                    }
                }
            }
            if parsed.is_empty() {
                return Err(Error::BadInput {
                    message: "no events to record".into(),
                    hint: "give --event '{\"user_id\": 7}' or --events-file FILE".into(),
                });
            }
            let n = parsed.len();
            let changed = device.record(&source, parsed)?;
            writeln!(
                out,
                "recorded {n} event(s) of {source}: {changed} stored row(s) changed"
            )
            .map_err(io)?;
        }
        DeviceCommand::Get {
            features,
            entities,
            context,
            json,
        } => {
            let features: Vec<String> = features
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            let entities = parse_entities(&entities)?;
            let context = parse_context(&context)?;
            let refs: Vec<&str> = features.iter().map(String::as_str).collect();
            let ents: Vec<(&str, Vec<KeyValue>)> = entities
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect();
            let got = device.get(&refs, &ents, &context)?;
            if json {
                writeln!(out, "{}", values_json(&got)).map_err(io)?;
            } else {
                print_table(&mut out, &got).map_err(io)?;
            }
            if let Some(e) = device.cloud_error() {
                eprintln!("note: the cloud did not answer: {e}");
            }
        }
        DeviceCommand::LdpReport { report, entity } => {
            let mut parsed = parse_entities(std::slice::from_ref(&entity))?;
            let (key, mut values) = parsed.pop().ok_or_else(|| Error::BadInput {
                message: "no entity".into(),
                hint: "give --entity user_id=7".into(),
            })?;
            let value = values.pop().ok_or_else(|| Error::BadInput {
                message: "no entity value".into(),
                hint: "give --entity user_id=7".into(),
            })?;
            let sent = device.ldp_report(&report, &key, value)?;
            writeln!(
                out,
                "sent 1 local-DP report of {report} ({} bytes, ε = {}); ε left in the cap's window: {}",
                sent.bytes, sent.epsilon, sent.remaining
            )
            .map_err(io)?;
        }
        DeviceCommand::Session => {
            let stdin = std::io::stdin();
            for (i, line) in stdin.lock().lines().enumerate() {
                let line = line.map_err(io)?;
                if line.trim().is_empty() {
                    continue;
                }
                session_line(&device, &line, i + 1, &mut out)?;
            }
        }
    }
    device.close()
}

fn session_line(device: &Device, line: &str, n: usize, out: &mut impl Write) -> Result<()> {
    let bad = |m: String| {
        Error::BadInput {
        message: format!("session line {n}: {m}"),
        hint: "write {\"record\": SOURCE, \"event\": {...}} or {\"get\": [...], \"entities\": {\"user_id\": [7]}}".into(),
    }
    };
    let cmd: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
    if let Some(source) = cmd.get("record").and_then(|s| s.as_str()) {
        let event = cmd.get("event").ok_or_else(|| bad("no `event`".into()))?;
        let e = event_from_json(device, source, &event.to_string(), &format!("line {n}"))?;
        device.record(source, vec![e])?;
        return Ok(());
    }
    let features: Vec<String> = cmd
        .get("get")
        .and_then(|g| g.as_array())
        .ok_or_else(|| bad("neither `record` nor `get`".into()))?
        .iter()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect();
    let mut entities = Vec::new();
    for (k, vals) in cmd
        .get("entities")
        .and_then(|e| e.as_object())
        .ok_or_else(|| bad("no `entities` object".into()))?
    {
        let list = vals
            .as_array()
            .ok_or_else(|| bad(format!("`{k}` is not a list")))?;
        let keys = list
            .iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(KeyValue::String(s.clone())),
                v => v
                    .as_i64()
                    .map(KeyValue::Int64)
                    .ok_or_else(|| bad(format!("`{k}`: {v} is not a key"))),
            })
            .collect::<Result<Vec<_>>>()?;
        entities.push((k.clone(), keys));
    }
    let mut context = RequestContext::new();
    if let Some(c) = cmd.get("context").and_then(|c| c.as_object()) {
        for (k, v) in c {
            context.insert(k.clone(), json_value(v));
        }
    }
    let refs: Vec<&str> = features.iter().map(String::as_str).collect();
    let ents: Vec<(&str, Vec<KeyValue>)> = entities
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let got = device.get(&refs, &ents, &context)?;
    writeln!(out, "{}", values_json(&got)).map_err(io)
}

fn read_lines(path: &std::path::Path) -> Result<Vec<String>> {
    if path.as_os_str() == "-" {
        return std::io::stdin()
            .lock()
            .lines()
            .collect::<std::io::Result<_>>()
            .map_err(io);
    }
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(text.lines().map(str::to_string).collect())
}

/// One event from a JSON object; without the source's timestamp field it happens now.
fn event_from_json(device: &Device, source: &str, text: &str, what: &str) -> Result<Event> {
    let bad = |m: String| Error::BadInput {
        message: format!("{what}: {m}"),
        hint: "give a JSON object, e.g. {\"user_id\": 7, \"ts\": \"2026-04-02T10:00:00Z\"}".into(),
    };
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let obj = v
        .as_object()
        .ok_or_else(|| bad("not a JSON object".into()))?;
    let ts_field = device
        .catalog()
        .sources()
        .get(source)
        .map(|s| s.timestamp_field.clone())
        .unwrap_or_default();
    let columns: Vec<(String, Value)> = obj
        .iter()
        .map(|(k, v)| (k.clone(), json_value(v)))
        .collect();
    if obj.contains_key(&ts_field) {
        Ok(Event::from_columns(columns))
    } else {
        let mut e = Event::now();
        for (k, v) in columns {
            e = e.with(&k, v);
        }
        Ok(e)
    }
}

fn parse_entities(specs: &[String]) -> Result<Vec<(String, Vec<KeyValue>)>> {
    let mut out: Vec<(String, Vec<KeyValue>)> = Vec::new();
    for spec in specs {
        let (k, v) = spec.split_once('=').ok_or_else(|| Error::BadInput {
            message: format!("--entity `{spec}` is not KEY=VALUE"),
            hint: "e.g. --entity user_id=7 (repeat for more entities)".into(),
        })?;
        let value = match v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            Some(s) => KeyValue::String(s.to_string()),
            None => match v.parse::<i64>() {
                Ok(n) => KeyValue::Int64(n),
                Err(_) => KeyValue::String(v.to_string()),
            },
        };
        match out.iter_mut().find(|(name, _)| name == k) {
            Some((_, list)) => list.push(value),
            None => out.push((k.to_string(), vec![value])),
        }
    }
    Ok(out)
}

fn parse_context(specs: &[String]) -> Result<RequestContext> {
    let mut out = RequestContext::new();
    for spec in specs {
        let (k, v) = spec.split_once('=').ok_or_else(|| Error::BadInput {
            message: format!("--context `{spec}` is not NAME=VALUE"),
            hint: "e.g. --context network=wifi".into(),
        })?;
        let value = v
            .parse::<i64>()
            .map(Value::Int64)
            .or_else(|_| v.parse::<f64>().map(Value::Float64))
            .unwrap_or_else(|_| Value::String(v.to_string()));
        out.insert(k.to_string(), value);
    }
    Ok(out)
}

/// A value for people: numbers and text as is, timestamps in RFC 3339, lists in brackets.
pub(crate) fn display(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int64(n) => n.to_string(),
        Value::Float64(f) => f.to_string(),
        Value::String(s) => s.clone(),
        Value::Bytes(b) => format!("<{} bytes>", b.len()),
        Value::Timestamp(t) => time(*t),
        Value::List(items) => format!(
            "[{}]",
            items.iter().map(display).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn time(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us).map_or_else(
        || format!("{us}us"),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

fn print_table(out: &mut impl Write, got: &DeviceValues) -> std::io::Result<()> {
    let width = got
        .features()
        .iter()
        .map(|f| f.to_string().len())
        .max()
        .unwrap_or(7)
        .max(7);
    writeln!(
        out,
        "{:<width$}  {:>6}  {:<11}  {:<20}  value",
        "feature", "entity", "status", "event time"
    )?;
    for (i, f) in got.features().iter().enumerate() {
        for e in 0..got.entities() {
            if let Some(v) = got.at(i, e) {
                writeln!(
                    out,
                    "{:<width$}  {:>6}  {:<11}  {:<20}  {}",
                    f.to_string(),
                    e,
                    v.status.as_str(),
                    v.event_ts.map_or_else(|| "-".into(), time),
                    display(v.value)
                )?;
            }
        }
    }
    Ok(())
}

/// The values as JSON, for scripts (printed locally; nothing here goes to the network).
fn values_json(got: &DeviceValues) -> serde_json::Value {
    let features: Vec<serde_json::Value> = got
        .features()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (mut values, mut statuses) = (Vec::new(), Vec::new());
            for e in 0..got.entities() {
                if let Some(v) = got.at(i, e) {
                    values.push(to_json(v.value));
                    statuses.push(serde_json::Value::from(v.status.as_str()));
                }
            }
            serde_json::json!({ "feature": f.to_string(), "values": values, "statuses": statuses })
        })
        .collect();
    serde_json::json!({ "features": features })
}

fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int64(n) => (*n).into(),
        Value::Float64(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        Value::String(s) => s.clone().into(),
        Value::Bytes(b) => format!("<{} bytes>", b.len()).into(),
        Value::Timestamp(t) => time(*t).into(),
        Value::List(items) => items.iter().map(to_json).collect::<Vec<_>>().into(),
    }
}

fn io(e: std::io::Error) -> Error {
    Error::Io {
        path: PathBuf::from("<stdio>"),
        source: e,
    }
}
