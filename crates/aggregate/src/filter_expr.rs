//! [`FilterExpr`]: the small, safe expression language of aggregation filters.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::data_type::InputType;
use crate::error::{Error, Result};
use crate::filter_eval::eval_node;
use crate::filter_parser;
pub(crate) use crate::lexer::CmpOp;
use crate::row::Row;
use tessera_value::Value;

/// A column reference or a literal.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Operand {
    Column { name: String, pos: usize },
    Literal(Value),
}

/// The parsed tree.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    Const(bool),
    Truthy {
        column: String,
        pos: usize,
    },
    Not(Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
    Compare {
        left: Operand,
        op: CmpOp,
        right: Operand,
        pos: usize,
    },
    In {
        operand: Operand,
        list: Vec<Value>,
        negated: bool,
        pos: usize,
    },
    IsNull {
        operand: Operand,
        negated: bool,
    },
}

/// A filter on events, parsed from SQL-like text:
/// `action = 'play'`, `dwell_s >= 30 and action != 'skip'`,
/// `action in ('play', 'like')`, `not (x < 3) or y is null`, `flag`.
///
/// Grammar: `or`, `and`, `not` (case-insensitive), parentheses, comparisons
/// `= != <> < <= > >=`, `[not] in (literal, ...)`, `is [not] null`; literals are
/// integers, floats, `'strings'` (`''` escapes a quote), `true`, `false`, `null`;
/// columns are `[A-Za-z_][A-Za-z0-9_]*` or `"double-quoted"`.
///
/// Semantics are SQL's three-valued logic, and an event passes only when the
/// result is *true*: a comparison involving null (or a missing column, or
/// values of incomparable types) is unknown, `not unknown` is unknown, so
/// `not (x < 3)` does not pass when `x` is null. Integers and floats compare
/// numerically and exactly; timestamps compare with integers as microseconds;
/// strings compare by bytes. Evaluation does not allocate.
///
/// ```
/// use tessera_aggregate::{Value, FilterExpr};
/// let f = FilterExpr::parse("dwell_s >= 30 and action in ('play', 'like')")?;
/// assert_eq!(f.columns(), ["action", "dwell_s"]);
/// let row = [("action", Value::from("play")), ("dwell_s", Value::Int64(45))];
/// assert!(f.eval(&row));
/// let row = [("action", Value::from("play")), ("dwell_s", Value::Null)];
/// assert!(!f.eval(&row));
/// let err = FilterExpr::parse("action = ").unwrap_err();
/// assert!(err.to_string().contains("position 10"));
/// # Ok::<(), tessera_aggregate::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FilterExpr {
    source: String,
    root: Node,
}

/// The inferred type of an operand, for checking.
fn operand_type(o: &Operand, columns: &BTreeMap<String, InputType>) -> Option<InputType> {
    match o {
        Operand::Column { name, .. } => columns.get(name).copied(),
        Operand::Literal(d) => InputType::of(d),
    }
}

fn comparable(a: InputType, b: InputType) -> bool {
    use InputType as T;
    a == b
        || matches!(
            (a, b),
            (T::Int64, T::Float64)
                | (T::Float64, T::Int64)
                | (T::Int64, T::Timestamp)
                | (T::Timestamp, T::Int64)
        )
}

fn show(o: &Operand, t: InputType) -> String {
    match o {
        Operand::Column { name, .. } => format!("column `{name}` ({t})"),
        Operand::Literal(Value::String(s)) => format!("'{s}' ({t})"),
        Operand::Literal(Value::Int64(v)) => format!("{v} ({t})"),
        Operand::Literal(Value::Float64(v)) => format!("{v} ({t})"),
        Operand::Literal(Value::Bool(v)) => format!("{v} ({t})"),
        Operand::Literal(_) => format!("a {t} literal"),
    }
}

fn visit_columns<'a>(node: &'a Node, out: &mut Vec<(&'a str, usize)>) {
    let operand = |o: &'a Operand, out: &mut Vec<(&'a str, usize)>| {
        if let Operand::Column { name, pos } = o {
            out.push((name, *pos));
        }
    };
    match node {
        Node::Const(_) => {}
        Node::Truthy { column, pos } => out.push((column, *pos)),
        Node::Not(inner) => visit_columns(inner, out),
        Node::And(items) | Node::Or(items) => items.iter().for_each(|i| visit_columns(i, out)),
        Node::Compare { left, right, .. } => {
            operand(left, out);
            operand(right, out);
        }
        Node::In { operand: o, .. } | Node::IsNull { operand: o, .. } => operand(o, out),
    }
}

impl FilterExpr {
    /// Parses a filter. Syntax errors name the 1-based character position and
    /// what was expected there.
    pub fn parse(source: &str) -> Result<Self> {
        let root = filter_parser::parse(source)?;
        Ok(FilterExpr {
            source: source.to_owned(),
            root,
        })
    }

    /// The filter as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The columns the filter reads, sorted, each once.
    pub fn columns(&self) -> Vec<&str> {
        let mut refs = Vec::new();
        visit_columns(&self.root, &mut refs);
        let set: BTreeSet<&str> = refs.into_iter().map(|(c, _)| c).collect();
        set.into_iter().collect()
    }

    /// Checks the filter against a source's columns: every column must exist
    /// (the error lists the known ones), comparisons must be between comparable
    /// types (numbers with numbers, timestamps with timestamps or integers,
    /// strings with strings, booleans with booleans), and a bare column must be
    /// a boolean.
    pub fn check(&self, columns: &BTreeMap<String, InputType>) -> Result<()> {
        let mut refs = Vec::new();
        visit_columns(&self.root, &mut refs);
        let unknown: BTreeSet<&str> = refs
            .iter()
            .map(|(c, _)| *c)
            .filter(|c| !columns.contains_key(*c))
            .collect();
        if !unknown.is_empty() {
            return Err(Error::UnknownColumns {
                expr: self.source.clone(),
                unknown: unknown.into_iter().map(str::to_owned).collect(),
                known: columns.keys().cloned().collect(),
            });
        }
        self.check_node(&self.root, columns)
    }

    fn type_error(&self, position: usize, reason: String) -> Error {
        Error::FilterType {
            expr: self.source.clone(),
            position,
            reason,
        }
    }

    fn check_node(&self, node: &Node, columns: &BTreeMap<String, InputType>) -> Result<()> {
        match node {
            Node::Const(_) | Node::IsNull { .. } => Ok(()),
            Node::Truthy { column, pos } => match columns.get(column) {
                Some(InputType::Bool) | None => Ok(()),
                Some(t) => Err(self.type_error(
                    *pos,
                    format!("column `{column}` is {t}, not bool; compare it with a value, e.g. `{column} = ...`"),
                )),
            },
            Node::Not(inner) => self.check_node(inner, columns),
            Node::And(items) | Node::Or(items) => {
                items.iter().try_for_each(|i| self.check_node(i, columns))
            }
            Node::Compare {
                left,
                op,
                right,
                pos,
            } => match (operand_type(left, columns), operand_type(right, columns)) {
                (Some(a), Some(b)) if !comparable(a, b) => Err(self.type_error(
                    *pos,
                    format!(
                        "cannot compare {} with {} using `{}`",
                        show(left, a),
                        show(right, b),
                        op.symbol()
                    ),
                )),
                _ => Ok(()),
            },
            Node::In {
                operand, list, pos, ..
            } => {
                let Some(a) = operand_type(operand, columns) else {
                    return Ok(());
                };
                for item in list {
                    if let Some(b) = InputType::of(item).filter(|&b| !comparable(a, b)) {
                        return Err(self.type_error(
                            *pos,
                            format!(
                                "the `in` list holds {} but is matched against {}",
                                show(&Operand::Literal(item.clone()), b),
                                show(operand, a)
                            ),
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    /// Whether the event passes: the expression is *true* (not false, not
    /// unknown). Columns missing from `row` read as null.
    pub fn eval<R: Row + ?Sized>(&self, row: &R) -> bool {
        eval_node(&self.root, row) == Some(true)
    }

    /// The three-valued result: `Some(true)`, `Some(false)`, or `None` for unknown.
    pub fn evaluate<R: Row + ?Sized>(&self, row: &R) -> Option<bool> {
        eval_node(&self.root, row)
    }
}

impl fmt::Display for FilterExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for FilterExpr {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        FilterExpr::parse(s)
    }
}

impl TryFrom<String> for FilterExpr {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        FilterExpr::parse(&s)
    }
}

impl From<FilterExpr> for String {
    fn from(f: FilterExpr) -> String {
        f.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passes(expr: &str, row: &[(&str, Value)]) -> bool {
        FilterExpr::parse(expr).unwrap().eval(row)
    }

    #[test]
    fn evaluates_like_sql() {
        let row = [
            ("action", Value::from("play")),
            ("dwell_s", Value::Int64(45)),
            ("score", Value::Float64(2.5)),
            ("flag", Value::Bool(true)),
            ("y", Value::Null),
            ("at", Value::Timestamp(1_000)),
        ];
        let cases = [
            ("action = 'play'", true),
            ("ACTION = 'play'", false), // columns are case-sensitive: missing reads as null
            ("action == 'play' AND dwell_s >= 30", true),
            ("dwell_s >= 30 and action != 'skip'", true),
            ("action in ('play', 'like')", true),
            ("action not in ('play', 'like')", false),
            ("action in ('skip', null)", false),
            ("not (action in ('skip', null))", false),
            ("action in ('play', null)", true),
            ("not (dwell_s < 3) or y is null", true),
            ("not (y < 3)", false),
            ("y is not null", false),
            ("y != 1", false),
            ("flag", true),
            ("flag = true", true),
            ("not flag", false),
            ("dwell_s > 44.5", true),
            ("dwell_s = 45.0", true),
            ("score < 3", true),
            ("3 > score", true),
            ("at >= 1000", true),
            ("\"action\" = 'play'", true),
            ("(action = 'x' or dwell_s > 10) and not (score > 5)", true),
            ("y = 1 or flag", true),
            ("y = 1 and flag", false),
            ("true", true),
            ("false or flag", true),
            ("action <> 'play'", false),
            ("action > 'pla'", true),
            ("dwell_s > -1", true),
        ];
        for (expr, want) in cases {
            assert_eq!(passes(expr, &row), want, "{expr}");
        }
    }

    #[test]
    fn string_escapes_and_quoted_columns() {
        let row = [("my col", Value::from("it's"))];
        assert!(passes("\"my col\" = 'it''s'", &row));
    }

    #[test]
    fn syntax_errors_name_position_and_expectation() {
        let cases = [
            ("action = ", 10, "a column or a literal"),
            ("action = 'play", 10, "closing '"),
            ("(x > 1", 7, "`)`"),
            ("x > 1)", 6, "no matching `(`"),
            ("x @ 1", 3, "operator"),
            ("x in ()", 7, "literal"),
            ("x in ('a' 'b')", 11, "`,` or `)`"),
            ("3", 2, "comparison operator"),
            ("x is 3", 6, "`null`"),
            ("and x", 1, "a column"),
            ("x > 99999999999999999999", 5, "64-bit"),
        ];
        for (expr, pos, expected) in cases {
            match FilterExpr::parse(expr) {
                Err(Error::FilterSyntax {
                    position,
                    expected: e,
                    ..
                }) => {
                    assert_eq!(position, pos, "{expr}: {e}");
                    assert!(e.contains(expected), "{expr}: {e}");
                }
                other => panic!("{expr}: {other:?}"),
            }
        }
        assert!(matches!(
            FilterExpr::parse("x = null"),
            Err(Error::FilterType { position: 3, .. })
        ));
        let deep = format!("{}x{}", "(".repeat(100), ")".repeat(100));
        assert!(FilterExpr::parse(&deep).is_err());
        let nots = format!("{}x", "not ".repeat(100));
        assert!(FilterExpr::parse(&nots).is_err());
    }

    #[test]
    fn checks_columns_and_types() {
        let columns: BTreeMap<String, InputType> = [
            ("action".to_owned(), InputType::String),
            ("dwell_s".to_owned(), InputType::Int64),
            ("flag".to_owned(), InputType::Bool),
            ("at".to_owned(), InputType::Timestamp),
        ]
        .into();
        let ok = FilterExpr::parse("action = 'a' and dwell_s > 1.5 and flag and at > 0").unwrap();
        ok.check(&columns).unwrap();
        let e = FilterExpr::parse("acton = 'a' or dwel > 1")
            .unwrap()
            .check(&columns)
            .unwrap_err();
        match e {
            Error::UnknownColumns { unknown, known, .. } => {
                assert_eq!(unknown, ["acton", "dwel"]);
                assert!(known.contains(&"action".to_owned()));
            }
            other => panic!("{other:?}"),
        }
        for bad in [
            "action > 3",
            "dwell_s = 'x'",
            "dwell_s",
            "action in ('a', 2)",
            "flag = 1",
        ] {
            let e = FilterExpr::parse(bad).unwrap().check(&columns);
            assert!(matches!(e, Err(Error::FilterType { .. })), "{bad}: {e:?}");
        }
        let msg = FilterExpr::parse("action > 3")
            .unwrap()
            .check(&columns)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("cannot compare column `action` (string) with 3 (int64)"),
            "{msg}"
        );
    }

    #[test]
    fn columns_and_display() {
        let f = FilterExpr::parse("b = 1 or a is null or b > 2").unwrap();
        assert_eq!(f.columns(), ["a", "b"]);
        assert_eq!(f.to_string(), "b = 1 or a is null or b > 2");
        let back: FilterExpr = f.to_string().parse().unwrap();
        assert_eq!(back, f);
    }
}
