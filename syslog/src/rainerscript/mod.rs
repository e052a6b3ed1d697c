//! The RainerScript subset that collector configurations use, read into the
//! same located statements as the legacy lines (the two mix freely, as in
//! rsyslog):
//! - `template(name=... type="string" string=...)` and `type="list"` with
//!   `property(...)` and `constant(...)`: a [`Statement::Template`] whose
//!   text is what the legacy `$template` line would hold;
//! - `action(type="omfile" ...)`: a [`Statement::ActionCall`];
//! - `if EXPR then BLOCK [else BLOCK]`, `stop`, legacy actions and legacy
//!   filters inside blocks: flattened into rules whose filter is the
//!   conjunction of the conditions around them (the rules run in order and
//!   `stop` ends the message's run, so the flattening is exact);
//! - `input(type="imtcp" port=...)`, `include(file=...)`, `global(...)`,
//!   `module(load=...)`: directives, as their legacy lines give.
//!
//! Everything else (rulesets, variables set by `set`, functions, arithmetic,
//! `foreach`, other objects) is a `FILE:LINE` error: never a silent
//! difference. The grammar and the lexer are rsyslog 8.2302's
//! (`grammar/grammar.y`, `grammar/lexer.l`): `and` and `or` share one
//! precedence level and group from the left, comparisons bind tighter, and
//! `not` tighter still (`not $a == "x"` is `(not $a) == "x"`).
//!
//! One concern per file, each using only those listed before it:
//! - `source.rs`: the text being read (position, line, blanks and comments,
//!   object names, quoted strings, skipping what is not read);
//! - `expression.rs`: the condition after `if`, tokens and grammar;
//! - `parameters.rs`: an object's `name="value"` list;
//! - `objects.rs`: what `action()`, `input()`, `module()`, `global()`,
//!   `include()` and `template()` become;
//! - `statements.rs`: the top level, blocks, `if`/`else`, `stop` and legacy
//!   lines inside blocks, flattened into rules.

mod expression;
mod objects;
mod parameters;
mod source;
mod statements;

pub(crate) use source::{starts_block, starts_statement, IncludeContext, Source};
pub(crate) use statements::{block_under, top_statement};
