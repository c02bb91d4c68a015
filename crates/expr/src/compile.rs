//! Type checking: the untyped tree to a typed one, with names bound to input slots and
//! integer operands promoted where they meet floats. Every error is found here, so a
//! compiled expression evaluates without failing.

use tessera_aggregate::lexer::CmpOp;
use tessera_aggregate::Value;

use crate::error::{Error, Result};
use crate::expr_type::ExprType;
use crate::function::{Func, NAMES};
use crate::parser::{ArithOp, Ast, Spanned};

/// The typed tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Input(usize),
    Lit(Value),
    ToFloat(Box<Node>),
    Neg(Box<Node>),
    Not(Box<Node>),
    /// Integer arithmetic when the type is `Int64`, else float.
    Arith(ArithOp, ExprType, Box<Node>, Box<Node>),
    Cmp(CmpOp, Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    IsNull(Box<Node>, bool),
    If(Box<Node>, Box<Node>, Box<Node>),
    Coalesce(Vec<Node>),
    Func(Func, Vec<Node>),
}

/// A typed node; `None` is the type of the `null` literal.
type Typed = (Node, Option<ExprType>);

pub(crate) struct Compiler<'a> {
    pub(crate) src: &'a str,
    pub(crate) inputs: &'a [(String, ExprType)],
}

impl Compiler<'_> {
    fn err(&self, pos: usize, message: String) -> Error {
        Error::Type {
            expr: self.src.to_string(),
            position: pos,
            message,
        }
    }

    pub(crate) fn compile(&self, s: &Spanned) -> Result<Typed> {
        let pos = s.pos;
        match &s.ast {
            Ast::Lit(d) => Ok((
                Node::Lit(d.clone()),
                match d {
                    Value::Null => None,
                    Value::Bool(_) => Some(ExprType::Bool),
                    Value::Int64(_) => Some(ExprType::Int64),
                    Value::Float64(_) => Some(ExprType::Float64),
                    Value::String(_) => Some(ExprType::String),
                    Value::Timestamp(_) => Some(ExprType::Timestamp),
                    Value::List(_) => return Err(self.err(pos, "lists are not supported".into())),
                    Value::Bytes(_) => return Err(self.err(pos, "bytes are not supported".into())),
                },
            )),
            Ast::Name(name) => {
                let slot = self
                    .inputs
                    .iter()
                    .position(|(n, _)| n == name)
                    .ok_or_else(|| Error::UnknownName {
                        expr: self.src.to_string(),
                        position: pos,
                        name: name.clone(),
                        known: if self.inputs.is_empty() {
                            "none: declare `inputs:` or `request:` fields".to_string()
                        } else {
                            self.inputs
                                .iter()
                                .map(|(n, t)| format!("`{n}` ({t})"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        },
                    })?;
                Ok((Node::Input(slot), Some(self.inputs[slot].1)))
            }
            Ast::Neg(inner) => {
                let (n, t) = self.compile(inner)?;
                match t {
                    Some(ExprType::Int64 | ExprType::Float64) | None => {
                        Ok((Node::Neg(Box::new(n)), t))
                    }
                    Some(t) => Err(self.err(pos, format!("`-` needs a number, not {t}"))),
                }
            }
            Ast::Not(inner) => {
                let n = self.boolean(inner, "`not`")?;
                Ok((Node::Not(Box::new(n)), Some(ExprType::Bool)))
            }
            Ast::And(a, b) | Ast::Or(a, b) => {
                let what = if matches!(s.ast, Ast::And(..)) {
                    "`and`"
                } else {
                    "`or`"
                };
                let (a, b) = (self.boolean(a, what)?, self.boolean(b, what)?);
                let node = if matches!(s.ast, Ast::And(..)) {
                    Node::And(Box::new(a), Box::new(b))
                } else {
                    Node::Or(Box::new(a), Box::new(b))
                };
                Ok((node, Some(ExprType::Bool)))
            }
            Ast::IsNull(inner, negated) => {
                let (n, _) = self.compile(inner)?;
                Ok((Node::IsNull(Box::new(n), *negated), Some(ExprType::Bool)))
            }
            Ast::Arith(op, a, b) => self.arith(*op, a, b),
            Ast::Cmp(op, a, b) => self.cmp(*op, a, b, pos),
            Ast::Call(name, args) => self.call(name, args, pos),
        }
    }

    fn boolean(&self, s: &Spanned, what: &str) -> Result<Node> {
        match self.compile(s)? {
            (n, Some(ExprType::Bool) | None) => Ok(n),
            (_, Some(t)) => Err(self.err(
                s.pos,
                format!("{what} needs a bool, not {t} (hint: compare it, e.g. `x > 0`)"),
            )),
        }
    }

    fn arith(&self, op: ArithOp, a: &Spanned, b: &Spanned) -> Result<Typed> {
        let (na, ta) = self.compile(a)?;
        let (nb, tb) = self.compile(b)?;
        for (t, side) in [(ta, a), (tb, b)] {
            if let Some(t) = t.filter(|t| !t.is_numeric()) {
                return Err(self.err(
                    side.pos,
                    format!("`{}` needs numbers, not {t}", op.symbol()),
                ));
            }
        }
        let ty =
            if op == ArithOp::Div || ta == Some(ExprType::Float64) || tb == Some(ExprType::Float64)
            {
                ExprType::Float64
            } else {
                ExprType::Int64
            };
        let (na, nb) = (promote(na, ta, ty), promote(nb, tb, ty));
        Ok((Node::Arith(op, ty, Box::new(na), Box::new(nb)), Some(ty)))
    }

    fn cmp(&self, op: CmpOp, a: &Spanned, b: &Spanned, pos: usize) -> Result<Typed> {
        let (na, ta) = self.compile(a)?;
        let (nb, tb) = self.compile(b)?;
        let (Some(ta), Some(tb)) = (ta, tb) else {
            return Err(self.err(
                pos,
                "a comparison with null is always null (hint: write `x is null` or `x is not null`)"
                    .into(),
            ));
        };
        if ta.is_numeric() && tb.is_numeric() {
            let ty = if ta == tb { ta } else { ExprType::Float64 };
            let (na, nb) = (promote(na, Some(ta), ty), promote(nb, Some(tb), ty));
            return Ok((
                Node::Cmp(op, Box::new(na), Box::new(nb)),
                Some(ExprType::Bool),
            ));
        }
        if ta != tb {
            return Err(self.err(
                pos,
                format!(
                    "cannot compare {ta} with {tb} using `{}` (hint: compare values of one type; strings are written in single quotes)",
                    op.symbol()
                ),
            ));
        }
        Ok((
            Node::Cmp(op, Box::new(na), Box::new(nb)),
            Some(ExprType::Bool),
        ))
    }

    /// The common type of several branches: one type, ints promoted to floats, nulls
    /// taking any type.
    fn unify(
        &self,
        items: Vec<(Typed, usize)>,
        what: &str,
    ) -> Result<(Vec<Node>, Option<ExprType>)> {
        let mut ty: Option<ExprType> = None;
        for ((_, t), p) in &items {
            ty = match (ty, *t) {
                (None, t) | (t, None) => t,
                (Some(a), Some(b)) if a == b => Some(a),
                (Some(a), Some(b)) if a.is_numeric() && b.is_numeric() => Some(ExprType::Float64),
                (Some(a), Some(b)) => {
                    return Err(self.err(
                        *p,
                        format!("the arguments of {what} must have one type, not {a} and {b}"),
                    ))
                }
            };
        }
        let nodes = items
            .into_iter()
            .map(|((n, t), _)| match ty {
                Some(target) => promote(n, t, target),
                None => n,
            })
            .collect();
        Ok((nodes, ty))
    }

    fn call(&self, name: &str, args: &[Spanned], pos: usize) -> Result<Typed> {
        let arity = |ok: bool, want: &str| -> Result<()> {
            if ok {
                Ok(())
            } else {
                Err(self.err(
                    pos,
                    format!(
                        "`{name}` takes {want}, not {} (the functions are {NAMES})",
                        args.len()
                    ),
                ))
            }
        };
        match name {
            "if" => {
                arity(args.len() == 3, "3 arguments: if(condition, then, else)")?;
                let c = self.boolean(&args[0], "the condition of `if`")?;
                let branches = vec![
                    (self.compile(&args[1])?, args[1].pos),
                    (self.compile(&args[2])?, args[2].pos),
                ];
                let (mut nodes, ty) = self.unify(branches, "`if`")?;
                let b = nodes.pop().unwrap_or(Node::Lit(Value::Null));
                let a = nodes.pop().unwrap_or(Node::Lit(Value::Null));
                Ok((Node::If(Box::new(c), Box::new(a), Box::new(b)), ty))
            }
            "coalesce" => {
                arity(!args.is_empty(), "at least 1 argument")?;
                let items = args
                    .iter()
                    .map(|a| Ok((self.compile(a)?, a.pos)))
                    .collect::<Result<Vec<_>>>()?;
                let (nodes, ty) = self.unify(items, "`coalesce`")?;
                Ok((Node::Coalesce(nodes), ty))
            }
            _ => {
                let func = Func::by_name(name).ok_or_else(|| Error::UnknownFunction {
                    expr: self.src.to_string(),
                    position: pos,
                    name: name.to_string(),
                    known: NAMES.to_string(),
                })?;
                match func {
                    Func::Min | Func::Max => arity(!args.is_empty(), "at least 1 argument")?,
                    Func::Round => arity(
                        args.len() == 1 || args.len() == 2,
                        "1 or 2 arguments: round(x) or round(x, digits)",
                    )?,
                    _ => arity(args.len() == 1, "1 argument")?,
                }
                if func == Func::Round && args.len() == 2 {
                    let Ast::Lit(Value::Int64(d)) = args[1].ast else {
                        return Err(self.err(
                            args[1].pos,
                            "the digits of `round` must be an integer literal, e.g. round(x, 2)"
                                .into(),
                        ));
                    };
                    if !(-15..=15).contains(&d) {
                        return Err(self.err(args[1].pos, "`round` takes -15 to 15 digits".into()));
                    }
                }
                let items = args
                    .iter()
                    .take(if func == Func::Round { 1 } else { args.len() })
                    .map(|a| Ok((self.compile(a)?, a.pos)))
                    .collect::<Result<Vec<_>>>()?;
                for ((_, t), p) in &items {
                    let ok_type = match func {
                        Func::Min | Func::Max => true, // any one type; `unify` checks it
                        _ => t.is_none_or(|t| t.is_numeric()),
                    };
                    if !ok_type {
                        return Err(self.err(
                            *p,
                            format!(
                                "`{}` needs numbers, not {}",
                                func.name(),
                                t.map_or("null", |t| t.as_str())
                            ),
                        ));
                    }
                }
                let (mut nodes, ty) = self.unify(items, &format!("`{}`", func.name()))?;
                if func == Func::Round && args.len() == 2 {
                    if let Ast::Lit(d) = &args[1].ast {
                        nodes.push(Node::Lit(d.clone()));
                    }
                }
                let ty = ty.map(|t| func.result(t));
                Ok((Node::Func(func, nodes), ty))
            }
        }
    }
}

fn promote(n: Node, from: Option<ExprType>, to: ExprType) -> Node {
    if from == Some(ExprType::Int64) && to == ExprType::Float64 {
        match n {
            Node::Lit(Value::Int64(v)) => Node::Lit(Value::Float64(v as f64)),
            other => Node::ToFloat(Box::new(other)),
        }
    } else {
        n
    }
}
