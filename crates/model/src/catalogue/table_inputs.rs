//! The words the table actions take (filter operators, `on_conflict`, sort
//! directions) as typed values, each defined once with its text.
//!
//! The catalogue's lists of allowed words, the loader's checks of literals
//! and the engine's parsing of values that expressions give at run time all
//! come from the definitions here, so that what the loader accepts and what a
//! run accepts cannot drift apart. The store uses the same types.

use std::fmt;
use std::str::FromStr;

use paywire_support::did_you_mean;

/// A word that is none of those a kind of value allows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{found}`")]
pub struct UnknownWord {
    /// What kind of word was expected, e.g. `filter operator`.
    pub what: &'static str,
    pub found: String,
    /// The words that would have been understood.
    pub words: &'static [&'static str],
}

impl UnknownWord {
    /// The nearest word when there is one near enough, or else all of them.
    pub fn hint(&self) -> String {
        match did_you_mean(&self.found, self.words.iter().copied()) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!("use one of: {}", self.words.join(", ")),
        }
    }
}

/// Declares an enum whose variants each have the one word a builder writes
/// for them. From that single list come the variants, the list of words, the
/// parser and the text, so adding a variant cannot leave any of them behind.
macro_rules! words {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $( $(#[$variant_meta:meta])* $variant:ident = $word:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every value, in the order of [`Self::NAMES`].
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The words builders write, in the order of [`Self::ALL`].
            pub const NAMES: &'static [&'static str] = &[$($word),+];

            /// The word a builder writes for this value.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }

            /// The value a word stands for; the error names the word and
            /// carries the words that would have been understood.
            pub fn parse(text: &str) -> Result<$name, UnknownWord> {
                match text {
                    $($word => Ok($name::$variant),)+
                    _ => Err(UnknownWord {
                        what: $what,
                        found: text.to_string(),
                        words: $name::NAMES,
                    }),
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownWord;

            fn from_str(text: &str) -> Result<$name, UnknownWord> {
                $name::parse(text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

words! {
    /// How a `where` condition compares a column with its value.
    pub enum FilterOp ("filter operator") {
        Eq = "eq",
        Ne = "ne",
        Gt = "gt",
        Gte = "gte",
        Lt = "lt",
        Lte = "lte",
        Like = "like",
        In = "in",
        NotIn = "not_in",
    }
}

impl FilterOp {
    /// Whether the operator compares with a list of values rather than one.
    pub fn takes_list(self) -> bool {
        matches!(self, FilterOp::In | FilterOp::NotIn)
    }
}

words! {
    /// What `table.insert` does when a row with the same primary key exists.
    #[derive(Default)]
    pub enum OnConflict ("`on_conflict` choice") {
        /// Fail the step (the default).
        #[default]
        Error = "error",
        /// Keep the existing row.
        Nothing = "nothing",
        /// Overwrite the columns the step gave.
        Update = "update",
    }
}

words! {
    /// Which way a `table.select` sorts by a column.
    pub enum Direction ("sort direction") {
        Asc = "asc",
        Desc = "desc",
    }
}

/// Why the text of an `order` term is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("an order is `column` or `column desc`")]
    NotText,
    #[error("an order names a column")]
    NoColumn,
    #[error("`{text}` is not an order")]
    NotAnOrder {
        text: String,
        /// The second word, when it is the one that is wrong.
        direction: Option<UnknownWord>,
    },
}

impl OrderError {
    /// What to write instead: the nearest direction when the second word is
    /// close to one, or else the form of an order.
    pub fn hint(&self) -> String {
        if let OrderError::NotAnOrder {
            direction: Some(unknown),
            ..
        } = self
            && did_you_mean(&unknown.found, unknown.words.iter().copied()).is_some()
        {
            return unknown.hint();
        }
        "write `column`, `column asc` or `column desc`".to_string()
    }
}

/// One term of an `order`: `column`, `column asc` or `column desc`, with
/// words separated by white space. The column is not checked here; the
/// loader and the store check it against the table.
pub fn parse_order(text: &str) -> Result<(&str, Direction), OrderError> {
    let mut words = text.split_whitespace();
    let column = words.next().ok_or(OrderError::NoColumn)?;
    let not_an_order = |direction| OrderError::NotAnOrder {
        text: text.to_string(),
        direction,
    };
    let direction = match words.next() {
        None => Direction::Asc,
        Some(word) => Direction::parse(word).map_err(|e| not_an_order(Some(e)))?,
    };
    if words.next().is_some() {
        return Err(not_an_order(None));
    }
    Ok((column, direction))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_parses_back_to_its_value() {
        for op in FilterOp::ALL {
            assert_eq!(FilterOp::parse(op.name()), Ok(*op));
            assert_eq!(op.to_string().parse::<FilterOp>(), Ok(*op));
        }
        for choice in OnConflict::ALL {
            assert_eq!(OnConflict::parse(choice.name()), Ok(*choice));
        }
        for direction in Direction::ALL {
            assert_eq!(Direction::parse(direction.name()), Ok(*direction));
        }
        let names: Vec<&str> = FilterOp::ALL.iter().map(|op| op.name()).collect();
        assert_eq!(names, FilterOp::NAMES);
    }

    #[test]
    fn the_words_are_the_ones_builders_write() {
        assert_eq!(
            FilterOp::NAMES,
            ["eq", "ne", "gt", "gte", "lt", "lte", "like", "in", "not_in"]
        );
        assert_eq!(OnConflict::NAMES, ["error", "nothing", "update"]);
        assert_eq!(Direction::NAMES, ["asc", "desc"]);
        assert_eq!(OnConflict::default(), OnConflict::Error);
        assert!(FilterOp::NotIn.takes_list() && !FilterOp::Like.takes_list());
    }

    #[test]
    fn unknown_words_are_named_with_a_hint() {
        let unknown = FilterOp::parse("eqq").unwrap_err();
        assert_eq!(unknown.to_string(), "unknown filter operator `eqq`");
        assert_eq!(unknown.hint(), "did you mean `eq`?");
        let unknown = OnConflict::parse("replace everything").unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "unknown `on_conflict` choice `replace everything`"
        );
        assert_eq!(unknown.hint(), "use one of: error, nothing, update");
        // Words are matched exactly: no case folding, no trimming.
        assert!(Direction::parse("DESC").is_err());
        assert!(FilterOp::parse(" eq").is_err());
        assert!(FilterOp::parse("").is_err());
    }

    #[test]
    fn orders_parse() {
        assert_eq!(parse_order("paid_at"), Ok(("paid_at", Direction::Asc)));
        assert_eq!(parse_order(" a   asc "), Ok(("a", Direction::Asc)));
        assert_eq!(parse_order("a\tdesc"), Ok(("a", Direction::Desc)));
        assert_eq!(parse_order(""), Err(OrderError::NoColumn));
        assert_eq!(parse_order("  "), Err(OrderError::NoColumn));

        let sideways = parse_order("amount sideways").unwrap_err();
        assert_eq!(sideways.to_string(), "`amount sideways` is not an order");
        assert_eq!(
            sideways.hint(),
            "write `column`, `column asc` or `column desc`"
        );
        let near = parse_order("amount desk").unwrap_err();
        assert_eq!(near.hint(), "did you mean `desc`?");
        let extra = parse_order("a desc b").unwrap_err();
        assert_eq!(extra.to_string(), "`a desc b` is not an order");
    }
}
