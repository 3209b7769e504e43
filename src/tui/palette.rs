//! The `:` command palette: a prompt whose first word is matched against the commands
//! (prefix matches first, then fuzzy subsequence matches); the rest are arguments.

use super::action::{COMMANDS, Command, offered};

/// A text prompt (the palette's and the filter's).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prompt {
    pub text: String,
    /// Index into the palette's matches.
    pub choice: usize,
}

impl Prompt {
    pub fn with_text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            choice: 0,
        }
    }

    /// The first word and the rest.
    pub fn split(&self) -> (&str, &str) {
        let t = self.text.trim_start();
        t.split_once(char::is_whitespace).unwrap_or((t, ""))
    }
}

/// Commands the palette offers for `word`, best first.
pub fn matches(word: &str, readonly: bool) -> Vec<&'static Command> {
    let word = word.to_ascii_lowercase();
    let mut scored: Vec<(u8, &'static Command)> = COMMANDS
        .iter()
        .filter(|c| c.palette && offered(c, readonly))
        .filter_map(|c| score(&word, c.name).map(|s| (s, c)))
        .collect();
    scored.sort_by_key(|(s, _)| *s);
    scored.into_iter().map(|(_, c)| c).collect()
}

/// 0 exact, 1 prefix, 2 subsequence; `None` when the letters are not all there in order.
fn score(word: &str, name: &str) -> Option<u8> {
    if word == name {
        return Some(0);
    }
    if name.starts_with(word) {
        return Some(1);
    }
    let mut letters = name.chars();
    word.chars().all(|w| letters.any(|n| n == w)).then_some(2)
}

/// What the prompt runs: the exact command if typed, else the chosen match.
pub fn chosen(prompt: &Prompt, readonly: bool) -> Option<(&'static Command, String)> {
    let (word, rest) = prompt.split();
    let found = matches(word, readonly);
    let pick = found
        .iter()
        .find(|c| c.name == word)
        .or_else(|| found.get(prompt.choice.min(found.len().saturating_sub(1))))?;
    Some((pick, rest.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_beats_fuzzy() {
        let names: Vec<&str> = matches("tr", false).iter().map(|c| c.name).collect();
        assert_eq!(names.first(), Some(&"traces"));
        let fuzzy: Vec<&str> = matches("clf", false).iter().map(|c| c.name).collect();
        assert_eq!(fuzzy, vec!["clear-filter"]);
        assert!(matches("zzz", false).is_empty());
    }

    #[test]
    fn empty_word_lists_every_palette_command() {
        let all = matches("", false);
        assert!(all.iter().any(|c| c.name == "quit"));
        assert!(all.iter().all(|c| c.palette));
    }

    #[test]
    fn arguments_follow_the_command() {
        let p = Prompt::with_text("fil v:v3 refusal");
        let (cmd, args) = chosen(&p, false).unwrap();
        assert_eq!((cmd.name, args.as_str()), ("filter", "v:v3 refusal"));
    }
}
