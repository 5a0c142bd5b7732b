//! "Did you mean": the one measure of a near miss, for the loader's hints,
//! the sandbox's parameter errors and `paywire trigger`'s unknown events.

/// The closest of `candidates` to `word`, if it is close enough to be a typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        // A third of the letters may differ: `stepz` finds `steps`, while a
        // one-letter name suggests nothing rather than any other letter.
        .filter(|(distance, c)| *distance <= c.len().max(word.len()) / 3)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(
            did_you_mean("table.insrt", ["table.insert", "table.select"]),
            Some("table.insert")
        );
        assert_eq!(did_you_mean("stepz", ["steps", "when"]), Some("steps"));
        assert_eq!(did_you_mean("zzzzzz", ["steps", "when"]), None);
    }
}
