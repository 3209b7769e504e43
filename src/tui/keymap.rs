//! Key bindings as data: `assets/keymap.toml` is embedded, parsed once, and consulted
//! for every key press, for the `?` help and for the footer hints.

use std::collections::HashMap;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use serde::Deserialize;

use super::action::{Action, COMMANDS, Command, offered};

/// The shipped bindings.
pub const DEFAULT_KEYMAP: &str = include_str!("../../assets/keymap.toml");

/// Where a key is interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    Global,
    Overview,
    Traces,
    Detail,
    Drift,
    Help,
    Input,
    Diff,
    Picker,
    Form,
    Incidents,
    Timeline,
    Gate,
    GateRun,
    Rollout,
    Running,
    Review,
}

impl Mode {
    pub const ALL: [Mode; 17] = [
        Mode::Global,
        Mode::Overview,
        Mode::Traces,
        Mode::Detail,
        Mode::Drift,
        Mode::Help,
        Mode::Input,
        Mode::Diff,
        Mode::Picker,
        Mode::Form,
        Mode::Incidents,
        Mode::Timeline,
        Mode::Gate,
        Mode::GateRun,
        Mode::Rollout,
        Mode::Running,
        Mode::Review,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Mode::Global => "Everywhere",
            Mode::Overview => "Overview",
            Mode::Traces => "Traces",
            Mode::Detail => "Trace detail",
            Mode::Drift => "Drift",
            Mode::Help => "Help",
            Mode::Input => "Filter and palette prompts",
            Mode::Diff => "Diff",
            Mode::Picker => "Version picker (replay)",
            Mode::Form => "Case form (R)",
            Mode::Incidents => "Incidents",
            Mode::Timeline => "Incident timeline",
            Mode::Gate => "Gate runs",
            Mode::GateRun => "Gate run cases",
            Mode::Rollout => "Rollout checklist",
            Mode::Running => "A procedure running (Rollout pane)",
            Mode::Review => "Review (quality sampling)",
        }
    }
}

/// A key with the modifiers that matter (shift is part of the character).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl Key {
    pub fn from_event(ev: &KeyEvent) -> Self {
        Self {
            code: ev.code,
            ctrl: ev.modifiers.contains(KeyModifiers::CONTROL),
            alt: ev.modifiers.contains(KeyModifiers::ALT),
        }
    }

    /// Parses `j`, `G`, `ctrl-c`, `pgdn`, `backtab`...
    pub fn parse(text: &str) -> Result<Self, String> {
        let (mut ctrl, mut alt, mut rest) = (false, false, text);
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                (ctrl, rest) = (true, r);
            } else if let Some(r) = rest.strip_prefix("alt-") {
                (alt, rest) = (true, r);
            } else {
                break;
            }
        }
        let code = match rest {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" | "shift-tab" => KeyCode::BackTab,
            "backspace" => KeyCode::Backspace,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" => KeyCode::PageUp,
            "pgdn" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "space" => KeyCode::Char(' '),
            s if s.chars().count() == 1 => KeyCode::Char(s.chars().next().unwrap_or(' ')),
            _ => return Err(format!("unknown key {text:?}")),
        };
        Ok(Self { code, ctrl, alt })
    }

    /// How help and hints spell the key.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "S-Tab".into(),
            KeyCode::Backspace => "Bksp".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::Char(' ') => "Space".into(),
            KeyCode::Char(c) => c.to_string(),
            other => format!("{other:?}"),
        };
        match (self.ctrl, self.alt) {
            (true, _) => format!("C-{base}"),
            (_, true) => format!("M-{base}"),
            _ => base,
        }
    }
}

/// One line of the keymap file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    action: String,
    keys: Vec<String>,
    #[serde(default)]
    help: Option<String>,
    #[serde(default)]
    hint: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
struct File {
    global: Vec<Entry>,
    overview: Vec<Entry>,
    traces: Vec<Entry>,
    detail: Vec<Entry>,
    drift: Vec<Entry>,
    help: Vec<Entry>,
    input: Vec<Entry>,
    diff: Vec<Entry>,
    picker: Vec<Entry>,
    form: Vec<Entry>,
    incidents: Vec<Entry>,
    timeline: Vec<Entry>,
    gate: Vec<Entry>,
    gate_run: Vec<Entry>,
    rollout: Vec<Entry>,
    running: Vec<Entry>,
    review: Vec<Entry>,
}

/// A resolved binding, in file order.
#[derive(Debug, Clone)]
pub struct Binding {
    pub mode: Mode,
    pub keys: Vec<Key>,
    pub command: &'static Command,
    pub help: String,
    pub hint: bool,
}

impl Binding {
    pub fn keys_label(&self) -> String {
        self.keys
            .iter()
            .map(Key::label)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The bindings of every mode.
#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: Vec<Binding>,
    index: HashMap<(Mode, Key), usize>,
}

impl Keymap {
    /// The embedded defaults.
    pub fn default_map() -> Self {
        Self::parse(DEFAULT_KEYMAP).expect("the embedded keymap is valid")
    }

    /// Parses a keymap file; errors name the mode and the entry.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut map = Keymap {
            bindings: Vec::new(),
            index: HashMap::new(),
        };
        let modes = [
            (Mode::Global, file.global),
            (Mode::Overview, file.overview),
            (Mode::Traces, file.traces),
            (Mode::Detail, file.detail),
            (Mode::Drift, file.drift),
            (Mode::Help, file.help),
            (Mode::Input, file.input),
            (Mode::Diff, file.diff),
            (Mode::Picker, file.picker),
            (Mode::Form, file.form),
            (Mode::Incidents, file.incidents),
            (Mode::Timeline, file.timeline),
            (Mode::Gate, file.gate),
            (Mode::GateRun, file.gate_run),
            (Mode::Rollout, file.rollout),
            (Mode::Running, file.running),
            (Mode::Review, file.review),
        ];
        for (mode, entries) in modes {
            for e in entries {
                map.add(mode, e)?;
            }
        }
        Ok(map)
    }

    fn add(&mut self, mode: Mode, e: Entry) -> Result<(), String> {
        let command = COMMANDS
            .iter()
            .find(|c| c.name == e.action)
            .ok_or_else(|| format!("{}: unknown action {:?}", mode.title(), e.action))?;
        let keys = e
            .keys
            .iter()
            .map(|k| Key::parse(k))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| format!("{}: {}: {err}", mode.title(), e.action))?;
        for k in &keys {
            self.index.insert((mode, *k), self.bindings.len());
        }
        self.bindings.push(Binding {
            mode,
            keys,
            command,
            help: e.help.unwrap_or_else(|| command.about.to_string()),
            hint: e.hint,
        });
        Ok(())
    }

    /// The action a key press means in `modes` (searched in order), if any.
    /// Key releases are ignored; in readonly, mutating actions are not reachable and
    /// their keys mean what a less specific mode binds them to (a digit that would
    /// score in the Review pane switches panes).
    pub fn action(&self, modes: &[Mode], ev: &KeyEvent, readonly: bool) -> Option<Action> {
        if ev.kind == KeyEventKind::Release {
            return None;
        }
        let key = Key::from_event(ev);
        let binding = modes
            .iter()
            .filter_map(|m| self.index.get(&(*m, key)))
            .map(|i| &self.bindings[*i])
            .find(|b| offered(b.command, readonly))?;
        // `score` is told which digit was pressed.
        let arg = match key.code {
            KeyCode::Char(c) if binding.command.name == "score" => c.to_string(),
            _ => String::new(),
        };
        Action::named(binding.command.name, &arg)
    }

    /// Bindings of one mode that may be offered, in file order.
    pub fn bindings(&self, mode: Mode, readonly: bool) -> impl Iterator<Item = &Binding> {
        self.bindings
            .iter()
            .filter(move |b| b.mode == mode && offered(b.command, readonly))
    }

    /// Footer hints for the given modes: `(keys, help)`.
    pub fn hints(&self, modes: &[Mode], readonly: bool) -> Vec<(String, String)> {
        modes
            .iter()
            .flat_map(|m| self.bindings(*m, readonly))
            .filter(|b| b.hint)
            .map(|b| {
                (
                    b.keys.first().map(Key::label).unwrap_or_default(),
                    b.help.clone(),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn parses_key_names() {
        assert_eq!(Key::parse("ctrl-c").unwrap().code, KeyCode::Char('c'));
        assert!(Key::parse("ctrl-c").unwrap().ctrl);
        assert_eq!(Key::parse("G").unwrap().code, KeyCode::Char('G'));
        assert_eq!(Key::parse("pgdn").unwrap().code, KeyCode::PageDown);
        assert!(Key::parse("hyper-x").is_err());
    }

    #[test]
    fn keys_map_to_actions_per_mode() {
        let km = Keymap::default_map();
        let traces = [Mode::Traces, Mode::Global];
        let none = KeyModifiers::NONE;
        let act = |code, mods| km.action(&traces, &press(code, mods), false);
        assert_eq!(act(KeyCode::Char('j'), none), Some(Action::Down));
        assert_eq!(act(KeyCode::Down, none), Some(Action::Down));
        assert_eq!(
            act(KeyCode::Char('G'), KeyModifiers::SHIFT),
            Some(Action::Bottom)
        );
        assert_eq!(act(KeyCode::Char('/'), none), Some(Action::OpenFilter));
        assert_eq!(act(KeyCode::Enter, none), Some(Action::Open));
        assert_eq!(
            act(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Some(Action::Quit)
        );
        assert_eq!(
            act(KeyCode::BackTab, KeyModifiers::SHIFT),
            Some(Action::PrevPane)
        );
        assert_eq!(
            act(KeyCode::Char('2'), none),
            Some(Action::ShowPane(super::super::action::Pane::Traces))
        );
        assert_eq!(act(KeyCode::Char('x'), none), None);
    }

    #[test]
    fn input_mode_does_not_see_global_letters() {
        let km = Keymap::default_map();
        let ev = press(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(km.action(&[Mode::Input], &ev, false), None);
        let ctrl_c = press(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(
            km.action(&[Mode::Input], &ctrl_c, false),
            Some(Action::Quit)
        );
    }

    #[test]
    fn pane_bindings_win_over_global() {
        let km = Keymap::default_map();
        let esc = press(KeyCode::Esc, KeyModifiers::NONE);
        let modes = [Mode::Detail, Mode::Traces, Mode::Global];
        assert_eq!(km.action(&modes, &esc, false), Some(Action::Back));
    }

    #[test]
    fn digits_score_in_the_review_pane_and_switch_panes_when_readonly() {
        let km = Keymap::default_map();
        let modes = [Mode::Review, Mode::Global];
        let four = press(KeyCode::Char('4'), KeyModifiers::NONE);
        assert_eq!(km.action(&modes, &four, false), Some(Action::Score(4)));
        assert_eq!(
            km.action(&modes, &four, true),
            Some(Action::ShowPane(super::super::action::Pane::Diff))
        );
        let n = press(KeyCode::Char('n'), KeyModifiers::NONE);
        assert_eq!(km.action(&modes, &n, false), Some(Action::EditNote));
        assert_eq!(km.action(&modes, &n, true), None);
    }

    #[test]
    fn releases_are_ignored() {
        let km = Keymap::default_map();
        let mut ev = press(KeyCode::Char('q'), KeyModifiers::NONE);
        ev.kind = KeyEventKind::Release;
        assert_eq!(km.action(&[Mode::Global], &ev, false), None);
    }

    #[test]
    fn bad_action_names_the_mode() {
        let err = Keymap::parse("[[traces]]\naction = \"explode\"\nkeys = [\"x\"]\n").unwrap_err();
        assert!(err.contains("Traces") && err.contains("explode"), "{err}");
    }

    #[test]
    fn hints_come_from_the_map() {
        let km = Keymap::default_map();
        let hints = km.hints(&[Mode::Traces, Mode::Global], false);
        assert!(hints.iter().any(|(k, h)| k == "/" && h == "filter traces"));
        assert!(hints.iter().any(|(k, _)| k == "q"));
    }
}
