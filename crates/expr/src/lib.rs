//! Tessera's on-demand feature expressions: a small, typed, safe expression language.
//!
//! On-demand features are computed at request time from other features and request-context
//! fields. The same [`Expr`] runs in serving (the access layer's on-demand step), in
//! training sets (after the point-in-time join) and on devices, so a value is the same
//! wherever it is computed. The crate depends only on `tessera-aggregate` (for the shared
//! lexer and the [`tessera_aggregate::Value`] value type) and `thiserror`: no Arrow, no
//! DataFusion, nothing a device binary cannot carry.
//!
//! ```text
//!  "if(plays > 0, dwell / plays, null)"
//!     │ tessera_aggregate::lexer (the tokenizer aggregation filters use too)
//!     │ parser: precedence or < and < not < comparison < + - < * / % < unary -
//!     │ compiler: names → input slots, types checked, ints promoted next to floats
//!     ▼
//!  Expr { typed tree, result type }  ── eval(&[Value]) ──► Value (never fails)
//! ```
//!
//! | | |
//! |---|---|
//! | literals | `1`, `-2`, `0.5`, `1e3`, `'text'` (`''` escapes a quote), `true`, `false`, `null` |
//! | names | inputs by name; `"quoted names"` for unusual spellings |
//! | arithmetic | `+ - * / %`, unary `-` (`/` always gives a float) |
//! | comparisons | `= == != <> < <= > >=` between numbers, strings, bools or timestamps; `x is [not] null` |
//! | logic | `and`, `or`, `not` (three-valued) |
//! | functions | `if(c, a, b)`, `coalesce(a, …)`, `abs`, `ln`, `log` (base 10), `exp`, `sqrt`, `min(a, …)`, `max(a, …)`, `round(x[, digits])`, `floor`, `ceil` |
//!
//! Aggregation filters (`filter:` in `aggregations:`) are a separate, predicate-only
//! language in `tessera-aggregate` (its tree is stored in aggregation specs); the two
//! share one lexer, so literals, quoting and comparison operators read the same.

mod compile;
mod error;
mod expr;
mod expr_type;
mod function;
mod parser;

pub use error::{Error, Result};
pub use expr::Expr;
pub use expr_type::ExprType;
