//! The parser: tokens (from the lexer shared with aggregation filters,
//! [`tessera_aggregate::lexer`]) to an untyped tree with positions.
//!
//! ```text
//! expr    := and ("or" and)*
//! and     := not ("and" not)*
//! not     := "not" not | cmp
//! cmp     := add [("=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=") add | "is" ["not"] "null"]
//! add     := mul (("+" | "-") mul)*
//! mul     := unary (("*" | "/" | "%") unary)*
//! unary   := "-" unary | primary
//! primary := integer | float | 'string' | true | false | null
//!          | name | "quoted name" | name "(" [expr ("," expr)*] ")" | "(" expr ")"
//! ```
//! Keywords and function names are case-insensitive; input names are not.

use tessera_aggregate::lexer::{describe, lex, CmpOp, Cursor, Tok, Token};
use tessera_aggregate::Value;

use crate::error::{Error, Result};

/// Deepest nesting accepted.
const MAX_DEPTH: usize = 64;

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl ArithOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Rem => "%",
        }
    }
}

/// The untyped tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ast {
    Name(String),
    Lit(Value),
    Neg(Box<Spanned>),
    Not(Box<Spanned>),
    Arith(ArithOp, Box<Spanned>, Box<Spanned>),
    Cmp(CmpOp, Box<Spanned>, Box<Spanned>),
    And(Box<Spanned>, Box<Spanned>),
    Or(Box<Spanned>, Box<Spanned>),
    IsNull(Box<Spanned>, bool),
    Call(String, Vec<Spanned>),
}

/// A node and the position of its first token (or its operator).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spanned {
    pub(crate) ast: Ast,
    pub(crate) pos: usize,
}

fn node(ast: Ast, pos: usize) -> Spanned {
    Spanned { ast, pos }
}

/// Parses `src`.
pub(crate) fn parse(src: &str) -> Result<Spanned> {
    let toks = lex(src).map_err(|e| match e {
        tessera_aggregate::Error::FilterSyntax {
            position,
            expected,
            found,
            ..
        } => Error::Syntax {
            expr: src.to_string(),
            position,
            expected,
            found,
        },
        other => Error::Syntax {
            expr: src.to_string(),
            position: 1,
            expected: "an expression".to_string(),
            found: other.to_string(),
        },
    })?;
    let mut p = Parser {
        src,
        cur: Cursor::new(src, toks),
    };
    let tree = p.or()?;
    let end = p.peek();
    if end.tok != Tok::End {
        let expected = if end.tok == Tok::RParen {
            "an operator or end of input (this `)` has no matching `(`)"
        } else {
            "an operator, `and`, `or` or end of input"
        };
        return Err(p.error_at(&end, expected));
    }
    Ok(tree)
}

struct Parser<'a> {
    src: &'a str,
    cur: Cursor,
}

impl Parser<'_> {
    fn peek(&self) -> Token {
        self.cur.peek()
    }

    fn bump(&mut self) -> Token {
        self.cur.bump()
    }

    fn error_at(&self, tok: &Token, expected: &str) -> Error {
        Error::Syntax {
            expr: self.src.to_string(),
            position: tok.pos,
            expected: expected.to_string(),
            found: describe(&tok.tok).replace("column ", "name "),
        }
    }

    fn expect(&mut self, want: &Tok, expected: &str) -> Result<Token> {
        let t = self.peek();
        self.cur
            .take_if(want)
            .ok_or_else(|| self.error_at(&t, expected))
    }

    fn enter(&mut self, tok: &Token) -> Result<()> {
        if self.cur.enter(MAX_DEPTH) {
            Ok(())
        } else {
            Err(self.error_at(tok, "a less deeply nested expression (at most 64 levels)"))
        }
    }

    fn or(&mut self) -> Result<Spanned> {
        let mut left = self.and()?;
        while self.peek().tok == Tok::Or {
            let op = self.bump();
            let right = self.and()?;
            left = node(Ast::Or(Box::new(left), Box::new(right)), op.pos);
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Spanned> {
        let mut left = self.not()?;
        while self.peek().tok == Tok::And {
            let op = self.bump();
            let right = self.not()?;
            left = node(Ast::And(Box::new(left), Box::new(right)), op.pos);
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Spanned> {
        let t = self.peek();
        if t.tok == Tok::Not {
            self.bump();
            self.enter(&t)?;
            let inner = self.not()?;
            self.cur.leave();
            return Ok(node(Ast::Not(Box::new(inner)), t.pos));
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Spanned> {
        let left = self.add()?;
        let t = self.peek();
        match t.tok {
            Tok::Op(op) => {
                self.bump();
                let right = self.add()?;
                Ok(node(Ast::Cmp(op, Box::new(left), Box::new(right)), t.pos))
            }
            Tok::Is => {
                self.bump();
                let negated = self.peek().tok == Tok::Not;
                if negated {
                    self.bump();
                }
                self.expect(&Tok::Null, "`null` after `is` or `is not`")?;
                Ok(node(Ast::IsNull(Box::new(left), negated), t.pos))
            }
            _ => Ok(left),
        }
    }

    fn add(&mut self) -> Result<Spanned> {
        let mut left = self.mul()?;
        loop {
            let t = self.peek();
            let op = match t.tok {
                Tok::Plus => ArithOp::Add,
                Tok::Minus => ArithOp::Sub,
                _ => return Ok(left),
            };
            self.bump();
            let right = self.mul()?;
            left = node(Ast::Arith(op, Box::new(left), Box::new(right)), t.pos);
        }
    }

    fn mul(&mut self) -> Result<Spanned> {
        let mut left = self.unary()?;
        loop {
            let t = self.peek();
            let op = match t.tok {
                Tok::Star => ArithOp::Mul,
                Tok::Slash => ArithOp::Div,
                Tok::Percent => ArithOp::Rem,
                _ => return Ok(left),
            };
            self.bump();
            let right = self.unary()?;
            left = node(Ast::Arith(op, Box::new(left), Box::new(right)), t.pos);
        }
    }

    fn unary(&mut self) -> Result<Spanned> {
        let t = self.peek();
        if t.tok == Tok::Minus {
            self.bump();
            self.enter(&t)?;
            let inner = self.unary()?;
            self.cur.leave();
            return Ok(node(Ast::Neg(Box::new(inner)), t.pos));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Spanned> {
        let t = self.bump();
        let lit = |d| Ok(node(Ast::Lit(d), t.pos));
        match t.tok.clone() {
            Tok::Int(v) => lit(Value::Int64(v)),
            Tok::Float(v) => lit(Value::Float64(v)),
            Tok::Str(s) => lit(Value::String(s)),
            Tok::True => lit(Value::Bool(true)),
            Tok::False => lit(Value::Bool(false)),
            Tok::Null => lit(Value::Null),
            Tok::QuotedIdent(name) => Ok(node(Ast::Name(name), t.pos)),
            Tok::Ident(name) => {
                if self.peek().tok != Tok::LParen {
                    return Ok(node(Ast::Name(name), t.pos));
                }
                self.bump();
                self.enter(&t)?;
                let mut args = Vec::new();
                if self.peek().tok == Tok::RParen {
                    self.bump();
                } else {
                    loop {
                        args.push(self.or()?);
                        let sep = self.bump();
                        match sep.tok {
                            Tok::Comma => {}
                            Tok::RParen => break,
                            _ => return Err(self.error_at(&sep, "`,` or `)` in the argument list")),
                        }
                    }
                }
                self.cur.leave();
                Ok(node(Ast::Call(name.to_ascii_lowercase(), args), t.pos))
            }
            Tok::LParen => {
                self.enter(&t)?;
                let inner = self.or()?;
                self.expect(&Tok::RParen, "`)` or an operator")?;
                self.cur.leave();
                Ok(inner)
            }
            _ => Err(self.error_at(&t, "a name, a literal, a function call, `-`, `not` or `(`")),
        }
    }
}
