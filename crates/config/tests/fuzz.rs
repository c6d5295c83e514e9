//! Fuzzing every parser of user input: playbooks, signals, the operator
//! config, the authority model and the inventory, plus the glob matcher
//! that compares signal ids with the model's patterns.
//!
//! Inputs are the shipped files mutated (bytes deleted, duplicated, replaced
//! with syntax characters, control characters and long runs), random text
//! over each format's alphabet, and pathological shapes (deep nesting, huge
//! strings). Each parser must return a value or located errors, never panic
//! or hang. `cargo xtask test` runs a bounded campaign (`CORDON_FUZZ_CASES`,
//! default 1,500 cases per parser); a longer one by hand:
//!
//! ```sh
//! CORDON_FUZZ_CASES=200000 cargo test -p cordon-config --test fuzz --release
//! ```

use cordon_authority::model::glob;
use cordon_authority::{AuthorityModel, Inventory};
use cordon_config::Config;
use cordon_input::{InputErrors, Playbook, Signal, SourceFile};
use proptest::prelude::*;

const PLAYBOOKS: &[&str] = &[
    include_str!("../../../playbooks/aws-leaked-access-key.toml"),
    include_str!("../../../playbooks/vault-token-leak.toml"),
    include_str!("../../../playbooks/okta-session-hijack.toml"),
    include_str!("../../../playbooks/cyberark-privileged-session-abuse.toml"),
    include_str!("../../../playbooks/ai-agent-identity-compromise.toml"),
];
const SIGNALS: &[&str] = &[
    include_str!("../../../playbooks/signals/aws-leaked-access-key.json"),
    include_str!("../../../playbooks/signals/vault-token-leak.json"),
    include_str!("../../../playbooks/signals/okta-session-hijack.json"),
    include_str!("../../../playbooks/signals/cyberark-privileged-session-abuse.json"),
    include_str!("../../../playbooks/signals/ai-agent-identity-compromise.json"),
];
const AUTHORITY: &str = include_str!("../../../authority.toml");
const INVENTORY: &str = include_str!("../../../inventory.toml");
const CONFIG: &str = r#"[store]
path = "cordon-data"
sync = "full"
[cache]
path = ".cordon-cache"
[authority]
path = "authority.toml"
[plugins.aws]
component = "plugins/aws.wasm"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
allowed_hosts = ["https://iam.amazonaws.com", "http://[::1]:8200"]
secrets = { access_key_id = "env:AWS_ACCESS_KEY_ID", secret_access_key = "file:aws.secret" }
config = { region = "us-east-1" }
limits = { timeout_ms = 10000, cpu_ms = 2000, memory_mb = 64, concurrency = 16 }
[server]
listen = "127.0.0.1:8443"
playbooks = ["playbooks/aws-leaked-access-key.toml"]
[[server.tokens]]
id = "detector"
principal = "automation:detector"
scopes = ["signals"]
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
"#;

fn cases() -> u32 {
    std::env::var("CORDON_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500)
}

/// Characters that matter to TOML and JSON, controls, and a few multi-byte ones.
const ALPHABET: &[char] = &[
    '{', '}', '[', ']', '"', '\'', '=', ':', ',', '.', '\n', '\r', '\t', ' ', '#', '\\', '*', '-',
    '0', '9', 'e', 'a', 'z', '_', '{', '}', '\u{0}', '\u{1b}', '\u{7f}', 'é', '€', '𝄞',
];

fn text_over_alphabet() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ALPHABET), 0..400)
        .prop_map(|chars| chars.into_iter().collect())
}

/// One edit of a seed text, at a position given as a fraction of its length.
#[derive(Debug, Clone)]
enum Edit {
    Delete(f64, usize),
    Insert(f64, String),
    Duplicate(f64, usize, usize),
    Repeat(f64, char, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = 0.0..1.0f64;
    prop_oneof![
        (at.clone(), 1..40usize).prop_map(|(a, n)| Edit::Delete(a, n)),
        (
            at.clone(),
            text_over_alphabet().prop_map(|t| t.chars().take(12).collect())
        )
            .prop_map(|(a, t)| Edit::Insert(a, t)),
        (at.clone(), 1..200usize, 1..4usize).prop_map(|(a, n, k)| Edit::Duplicate(a, n, k)),
        (at, prop::sample::select(ALPHABET), 1..5000usize)
            .prop_map(|(a, c, n)| Edit::Repeat(a, c, n)),
    ]
}

fn boundary(text: &str, fraction: f64) -> usize {
    let mut at = ((text.len() as f64) * fraction) as usize;
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(seed: &str, edits: &[Edit]) -> String {
    let mut text = seed.to_string();
    for edit in edits {
        match edit {
            Edit::Delete(at, n) => {
                let start = boundary(&text, *at);
                let end = boundary(&text, (start + n) as f64 / text.len().max(1) as f64);
                text.replace_range(start..end.max(start), "");
            }
            Edit::Insert(at, s) => {
                let at = boundary(&text, *at);
                text.insert_str(at, s);
            }
            Edit::Duplicate(at, n, k) => {
                let start = boundary(&text, *at);
                let end = boundary(&text, (start + n) as f64 / text.len().max(1) as f64).max(start);
                let chunk = text[start..end].repeat(*k);
                text.insert_str(end, &chunk);
            }
            Edit::Repeat(at, c, n) => {
                let at = boundary(&text, *at);
                text.insert_str(at, &c.to_string().repeat(*n));
            }
        }
    }
    text
}

fn mutated(seeds: &'static [&'static str]) -> impl Strategy<Value = String> {
    (
        prop::sample::select(seeds),
        prop::collection::vec(edit(), 1..6),
    )
        .prop_map(|(seed, edits)| apply(seed, &edits))
}

fn input(seeds: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![4 => mutated(seeds), 1 => text_over_alphabet()]
}

/// Every error names the file and a real position, and says something.
fn located(text: &str, errors: &InputErrors) -> Result<(), TestCaseError> {
    prop_assert!(!errors.0.is_empty());
    let lines = text.split('\n').count();
    for error in &errors.0 {
        prop_assert_eq!(error.path.to_str(), Some("fuzzed"));
        prop_assert!(
            error.line >= 1 && error.line <= lines,
            "line {} of {lines}",
            error.line
        );
        prop_assert!(error.column >= 1);
        prop_assert!(!error.message.trim().is_empty());
        let _ = error.to_string();
    }
    Ok(())
}

fn source(text: &str) -> SourceFile {
    SourceFile::from_text("fuzzed", text)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn playbooks(text in input(PLAYBOOKS)) {
        match Playbook::parse(source(&text)) {
            Ok(playbook) => prop_assert!(playbook.steps.iter().all(|s| s.id.chars().count() <= 64)),
            Err(errors) => located(&text, &errors)?,
        }
    }

    #[test]
    fn signals(text in input(SIGNALS)) {
        if let Err(errors) = Signal::parse(&source(&text)) {
            located(&text, &errors)?;
        }
    }

    #[test]
    fn configs(text in input(&[CONFIG])) {
        if let Err(errors) = Config::parse(&source(&text)) {
            located(&text, &errors)?;
        }
    }

    #[test]
    fn authority_models(text in input(&[AUTHORITY])) {
        if let Err(errors) = AuthorityModel::parse(&source(&text)) {
            located(&text, &errors)?;
        }
    }

    #[test]
    fn inventories(text in input(&[INVENTORY])) {
        if let Err(errors) = Inventory::parse(&source(&text)) {
            located(&text, &errors)?;
        }
    }

    /// The glob matcher agrees with a plain backtracking definition.
    #[test]
    fn globs_match_like_the_definition(
        pattern in "[ab*é]{0,12}",
        text in "[abé]{0,16}",
    ) {
        prop_assert_eq!(glob(&pattern, &text), reference_glob(&pattern, &text), "{} on {}", pattern, text);
    }
}

fn reference_glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

/// Shapes random edits rarely reach: deep nesting, huge values, a long line.
#[test]
fn pathological_shapes_are_refused_not_crashed() {
    let depth = 100_000;
    let shapes = [
        format!("a = {}{}", "[".repeat(depth), "]".repeat(depth)),
        format!("a = {}1{}", "{ b = ".repeat(depth), " }".repeat(depth)),
        format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
        format!("{{\"id\": {}1{}}}", "[".repeat(depth), "]".repeat(depth)),
        format!("{{\"id\": \"{}\"}}", "x".repeat(8 << 20)),
        format!("name = \"{}\"", "\\u0000".repeat(100_000)),
        "x".repeat(4 << 20),
    ];
    for text in &shapes {
        for parsed in [
            Playbook::parse(source(text)).err(),
            Signal::parse(&source(text)).err(),
            Config::parse(&source(text)).err(),
            AuthorityModel::parse(&source(text)).err(),
            Inventory::parse(&source(text)).err(),
        ] {
            let errors = parsed.expect("refused");
            located(text, &errors).unwrap();
        }
    }
}
