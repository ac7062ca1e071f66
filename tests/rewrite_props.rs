//! Property tests for the JSON store ID rewriter.
//!
//! The generator builds random documents as trees with store ID keys planted at random
//! depths, spellings and escapings. Rendering a tree writes the input text and, independently,
//! the exact text the rewriter must return, so no property relies on the rewriter to find the
//! planted values. serde_json is used only as an oracle for structure and validity. The
//! streaming rewrite is checked against the one-shot one on the same documents cut into
//! random chunks.

use proptest::prelude::*;
use serde_json::Value;
use storebridge::rewrite::{rewrite_json, JsonOptions, JsonStream, MalformedJson};
use storebridge::stores::{Direction, StoreId, StoreMap, StorePair};

const LEGACY: [u64; 2] = [12345, 98765];
const CONNECT: [u64; 2] = [7654321, 98766];
const SPELLINGS: [&str; 5] = ["storeId", "StoreID", "storeID", "store_id", "STORE_ID"];
const TOKENS: [&str; 16] = [
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "\"a\"",
    "1",
    "-0.5e3",
    "null",
    "true",
    " ",
    "'a'",
    "\"\\u12\"",
    "01",
    "1.",
];
const SPACES: [&str; 6] = ["", " ", "\n", "\t", "\r\n  ", " \t "];

fn map() -> StoreMap {
    let pairs = LEGACY
        .iter()
        .zip(CONNECT)
        .map(|(&legacy, connect)| StorePair {
            legacy: StoreId(legacy),
            connect: StoreId(connect),
        })
        .collect();
    StoreMap::new(pairs).unwrap()
}

/// A JSON string: its decoded content, and per character a choice of how to escape it.
#[derive(Clone, Debug)]
struct Text {
    content: String,
    escapes: Vec<u8>,
}

#[derive(Clone, Debug)]
enum Node {
    Null,
    Bool(bool),
    Number(String),
    String(Text),
    Array(Vec<(usize, Node, usize)>),
    Object(Vec<Member>),
}

/// An object member. Indexes pick white space from [`SPACES`].
#[derive(Clone, Debug)]
struct Member {
    spaces: [usize; 4],
    key: Text,
    value: MemberValue,
}

#[derive(Clone, Debug)]
enum MemberValue {
    Plain(Node),
    /// A store ID under a store ID key, as a number or a numeric string.
    Id {
        id: u64,
        quoted: bool,
    },
    /// null, a boolean, an array or an object under a store ID key: left alone.
    NotAnId(Node),
}

/// The rendered input, the rewriter's expected output for each direction, and counts.
#[derive(Default)]
struct Rendered {
    input: Vec<u8>,
    to_connect: Vec<u8>,
    to_connect_count: usize,
    has_connect_id: bool,
}

fn text_strategy(chars: BoxedStrategy<char>) -> impl Strategy<Value = Text> {
    (
        prop::collection::vec(chars, 0..20),
        prop::collection::vec(any::<u8>(), 1..8),
    )
        .prop_map(|(chars, escapes)| Text {
            content: chars.into_iter().collect(),
            escapes,
        })
}

fn any_text() -> impl Strategy<Value = Text> {
    let chars = prop_oneof![
        4 => prop::char::range('a', 'z'),
        1 => any::<char>(),
        1 => prop::sample::select(vec!['"', '\\', '/', '\n', '\u{1}', '\u{7f}', 'é', '😀', '1']),
    ];
    text_strategy(chars.boxed())
}

/// Generates a key that is never a store ID name, so that only planted keys are rewritten.
fn plain_key() -> impl Strategy<Value = Text> {
    any_text().prop_map(|mut key| {
        let lower = key.content.to_ascii_lowercase();
        if lower == "storeid" || lower == "store_id" {
            key.content.insert(0, 'k');
        }
        key
    })
}

fn planted_key() -> impl Strategy<Value = Text> {
    (
        prop::sample::select(SPELLINGS.to_vec()),
        prop::collection::vec(any::<u8>(), 1..8),
    )
        .prop_map(|(spelling, escapes)| Text {
            content: spelling.to_owned(),
            escapes,
        })
}

fn number() -> impl Strategy<Value = String> {
    let exponent = (
        prop::sample::select(vec!["e", "E"]),
        prop::sample::select(vec!["", "+", "-"]),
        0u8..20,
    );
    (
        any::<bool>(),
        prop_oneof![
            0u64..100,
            Just(12345u64),
            Just(7654321),
            0u64..1_000_000_000_000
        ],
        prop::option::of("[0-9]{1,4}"),
        prop::option::of(exponent),
    )
        .prop_map(|(negative, integer, fraction, exponent)| {
            let mut text = if negative {
                "-".to_owned()
            } else {
                String::new()
            };
            text.push_str(&integer.to_string());
            if let Some(fraction) = fraction {
                text.push('.');
                text.push_str(&fraction);
            }
            if let Some((letter, sign, digits)) = exponent {
                text.push_str(&format!("{letter}{sign}{digits}"));
            }
            text
        })
}

fn store_id() -> impl Strategy<Value = u64> {
    prop_oneof![
        prop::sample::select(LEGACY.to_vec()),
        prop::sample::select(CONNECT.to_vec()),
        (1u64..10_000_000).prop_filter("unmapped", |id| !LEGACY.contains(id)
            && !CONNECT.contains(id)),
        Just(u64::MAX),
    ]
}

fn space() -> impl Strategy<Value = usize> {
    0..SPACES.len()
}

fn node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        Just(Node::Null),
        any::<bool>().prop_map(Node::Bool),
        number().prop_map(Node::Number),
        any_text().prop_map(Node::String),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        let container = inner.clone().prop_filter("container", |node| {
            matches!(node, Node::Null | Node::Bool(_) | Node::Array(_) | Node::Object(_))
        });
        let member_value = prop_oneof![
            3 => inner.clone().prop_map(MemberValue::Plain),
            2 => (store_id(), any::<bool>()).prop_map(|(id, quoted)| MemberValue::Id { id, quoted }),
            1 => container.prop_map(MemberValue::NotAnId),
        ];
        let member = (prop::array::uniform4(space()), plain_key(), planted_key(), member_value)
            .prop_map(|(spaces, plain, planted, value)| {
                let key = match value {
                    MemberValue::Plain(_) => plain,
                    MemberValue::Id { .. } | MemberValue::NotAnId(_) => planted,
                };
                Member { spaces, key, value }
            });
        prop_oneof![
            prop::collection::vec((space(), inner, space()), 0..6).prop_map(Node::Array),
            prop::collection::vec(member, 0..6).prop_map(Node::Object),
        ]
    })
}

/// Generates a document whose top value is an array or an object, with white space around it.
fn document() -> impl Strategy<Value = (usize, Node, usize)> {
    let top = node().prop_filter("container", |node| {
        matches!(node, Node::Array(_) | Node::Object(_))
    });
    (space(), top, space())
}

fn push_both(rendered: &mut Rendered, bytes: &[u8]) {
    rendered.input.extend_from_slice(bytes);
    rendered.to_connect.extend_from_slice(bytes);
}

fn render_text(text: &Text) -> Vec<u8> {
    let mut out = String::from("\"");
    for (index, character) in text.content.chars().enumerate() {
        let choice = text
            .escapes
            .get(index % text.escapes.len())
            .copied()
            .unwrap_or(0);
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '/' if choice % 2 == 0 => out.push_str("\\/"),
            c if (c as u32) < 0x20 || choice % 4 == 1 => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out.into_bytes()
}

fn render(node: &Node, rendered: &mut Rendered) {
    match node {
        Node::Null => push_both(rendered, b"null"),
        Node::Bool(value) => push_both(rendered, value.to_string().as_bytes()),
        Node::Number(text) => push_both(rendered, text.as_bytes()),
        Node::String(text) => push_both(rendered, &render_text(text)),
        Node::Array(items) => {
            push_both(rendered, b"[");
            for (index, (before, item, after)) in items.iter().enumerate() {
                if index > 0 {
                    push_both(rendered, b",");
                }
                push_both(rendered, SPACES[*before].as_bytes());
                render(item, rendered);
                push_both(rendered, SPACES[*after].as_bytes());
            }
            push_both(rendered, b"]");
        }
        Node::Object(members) => {
            push_both(rendered, b"{");
            for (index, member) in members.iter().enumerate() {
                if index > 0 {
                    push_both(rendered, b",");
                }
                push_both(rendered, SPACES[member.spaces[0]].as_bytes());
                push_both(rendered, &render_text(&member.key));
                push_both(rendered, SPACES[member.spaces[1]].as_bytes());
                push_both(rendered, b":");
                push_both(rendered, SPACES[member.spaces[2]].as_bytes());
                match &member.value {
                    MemberValue::Plain(value) | MemberValue::NotAnId(value) => {
                        render(value, rendered)
                    }
                    &MemberValue::Id { id, quoted } => render_id(id, quoted, rendered),
                }
                push_both(rendered, SPACES[member.spaces[3]].as_bytes());
            }
            push_both(rendered, b"}");
        }
    }
}

fn render_id(id: u64, quoted: bool, rendered: &mut Rendered) {
    let quote = |id: u64| {
        if quoted {
            format!("\"{id}\"")
        } else {
            id.to_string()
        }
    };
    rendered.input.extend_from_slice(quote(id).as_bytes());
    rendered.has_connect_id |= CONNECT.contains(&id);
    match LEGACY.iter().position(|&legacy| legacy == id) {
        Some(index) => {
            rendered
                .to_connect
                .extend_from_slice(quote(CONNECT[index]).as_bytes());
            rendered.to_connect_count += 1;
        }
        None => rendered.to_connect.extend_from_slice(quote(id).as_bytes()),
    }
}

fn render_document((before, top, after): &(usize, Node, usize)) -> Rendered {
    let mut rendered = Rendered::default();
    push_both(&mut rendered, SPACES[*before].as_bytes());
    render(top, &mut rendered);
    push_both(&mut rendered, SPACES[*after].as_bytes());
    rendered
}

/// Builds the value serde_json must read from the rewritten document.
fn expected_value(node: &Node) -> Value {
    match node {
        Node::Null => Value::Null,
        Node::Bool(value) => Value::Bool(*value),
        Node::Number(text) => serde_json::from_str(text).unwrap(),
        Node::String(text) => Value::String(text.content.clone()),
        Node::Array(items) => Value::Array(
            items
                .iter()
                .map(|(_, item, _)| expected_value(item))
                .collect(),
        ),
        Node::Object(members) => {
            let mut object = serde_json::Map::new();
            for member in members {
                let value = match &member.value {
                    MemberValue::Plain(value) | MemberValue::NotAnId(value) => {
                        expected_value(value)
                    }
                    &MemberValue::Id { id, quoted } => {
                        let id = LEGACY
                            .iter()
                            .position(|&legacy| legacy == id)
                            .map_or(id, |index| CONNECT[index]);
                        if quoted {
                            Value::String(id.to_string())
                        } else {
                            Value::from(id)
                        }
                    }
                };
                object.insert(member.key.content.clone(), value);
            }
            Value::Object(object)
        }
    }
}

/// Replaces every planted connect ID with its legacy partner, so that a translation followed
/// by a mirror translation must give back the input.
fn without_connect_ids(node: Node) -> Node {
    match node {
        Node::Array(items) => Node::Array(
            items
                .into_iter()
                .map(|(before, item, after)| (before, without_connect_ids(item), after))
                .collect(),
        ),
        Node::Object(members) => Node::Object(
            members
                .into_iter()
                .map(|mut member| {
                    member.value = match member.value {
                        MemberValue::Plain(value) => MemberValue::Plain(without_connect_ids(value)),
                        MemberValue::NotAnId(value) => {
                            MemberValue::NotAnId(without_connect_ids(value))
                        }
                        MemberValue::Id { id, quoted } => {
                            let id = CONNECT
                                .iter()
                                .position(|&connect| connect == id)
                                .map_or(id, |index| LEGACY[index]);
                            MemberValue::Id { id, quoted }
                        }
                    };
                    member
                })
                .collect(),
        ),
        other => other,
    }
}

/// Output, count and error of a streamed rewrite.
type Streamed = (Vec<u8>, usize, Option<MalformedJson>);

/// Rewrites `input` fed in chunks: one byte at a time with `bytewise`, else cut at `cuts`.
fn streamed(input: &[u8], cuts: &[prop::sample::Index], bytewise: bool) -> Streamed {
    let mut bounds: Vec<usize> = cuts.iter().map(|cut| cut.index(input.len() + 1)).collect();
    if bytewise {
        bounds = (0..input.len()).collect();
    }
    bounds.push(0);
    bounds.push(input.len());
    bounds.sort_unstable();

    let mut rewriter = JsonStream::new(
        std::sync::Arc::new(map()),
        Direction::ToConnect,
        JsonOptions::default(),
    );
    let mut output = Vec::new();
    for window in bounds.windows(2) {
        rewriter.feed(&input[window[0]..window[1]], &mut output);
    }
    rewriter.finish(&mut output);
    (output, rewriter.count(), rewriter.error().cloned())
}

fn rewritten(input: &[u8], direction: Direction) -> (Vec<u8>, usize) {
    let result = rewrite_json(input, &map(), direction, JsonOptions::default()).unwrap();
    (result.body.unwrap_or_else(|| input.to_vec()), result.count)
}

/// Returns whether the rewriter and serde_json agree that `input` is or is not JSON.
///
/// The inputs come from documents of depth 8 or less, below serde_json's recursion limit of
/// 128. serde_json skips ignored strings without checking UTF-8, so the comparison is only
/// made on UTF-8 input. Invalid UTF-8 must always be rejected by the rewriter, because a JSON
/// text is UTF-8 throughout. Lone surrogate escapes are accepted by both.
fn agrees_with_serde(input: &[u8]) -> Result<(), TestCaseError> {
    let ours = rewrite_json(input, &map(), Direction::ToConnect, JsonOptions::default());
    if std::str::from_utf8(input).is_err() {
        prop_assert!(ours.is_err(), "accepted invalid UTF-8: {:?}", input);
        return Ok(());
    }
    let theirs = serde_json::from_slice::<serde::de::IgnoredAny>(input);
    prop_assert_eq!(
        ours.is_ok(),
        theirs.is_ok(),
        "input {:?}: ours {:?}, serde_json {:?}",
        String::from_utf8_lossy(input),
        ours.err(),
        theirs.err()
    );
    Ok(())
}

#[derive(Clone, Debug)]
enum Mutation {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    /// Inserts a token before the next closing bracket or comma at or after the position,
    /// where near misses such as trailing commas hide.
    InsertToken(usize, &'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![
        prop::sample::select(b"{}[]\",:\\ \n0123456789.eE+-tfnrulsx/\x01\x7f".to_vec()),
        any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(at, byte)| Mutation::Replace(at, byte)),
        (any::<usize>(), byte).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), prop::sample::select(TOKENS.to_vec()))
            .prop_map(|(at, token)| Mutation::InsertToken(at, token)),
    ]
}

fn apply(mut bytes: Vec<u8>, mutation: &Mutation) -> Vec<u8> {
    let len = bytes.len().max(1);
    match *mutation {
        Mutation::Replace(at, byte) => {
            if let Some(slot) = bytes.get_mut(at % len) {
                *slot = byte;
            }
        }
        Mutation::Insert(at, byte) => bytes.insert(at % (bytes.len() + 1), byte),
        Mutation::Delete(at) => {
            if !bytes.is_empty() {
                bytes.remove(at % len);
            }
        }
        Mutation::InsertToken(at, token) => {
            let start = at % len;
            let before = bytes
                .iter()
                .skip(start)
                .position(|byte| matches!(byte, b']' | b'}' | b','))
                .map_or(bytes.len(), |offset| start + offset);
            bytes.splice(before..before, token.bytes());
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip_restores_input(document in document()) {
        let (before, top, after) = document;
        let document = (before, without_connect_ids(top), after);
        let rendered = render_document(&document);
        prop_assert!(!rendered.has_connect_id);
        let (connect, _) = rewritten(&rendered.input, Direction::ToConnect);
        let (legacy, _) = rewritten(&connect, Direction::ToLegacy);
        prop_assert_eq!(legacy, rendered.input);
    }

    #[test]
    fn only_planted_values_change(document in document()) {
        let rendered = render_document(&document);
        let (output, count) = rewritten(&rendered.input, Direction::ToConnect);
        prop_assert_eq!(String::from_utf8_lossy(&output), String::from_utf8_lossy(&rendered.to_connect));
        prop_assert_eq!(count, rendered.to_connect_count);
    }

    #[test]
    fn output_parses_to_expected_structure(document in document()) {
        let rendered = render_document(&document);
        let (output, _) = rewritten(&rendered.input, Direction::ToConnect);
        let parsed: Value = serde_json::from_slice(&output).unwrap();
        prop_assert_eq!(parsed, expected_value(&document.1));
    }

    #[test]
    fn truncated_documents_rejected(document in document(), cut in any::<prop::sample::Index>()) {
        let rendered = render_document(&document);
        let text = rendered.input.trim_ascii_end();
        let prefix = &text[..cut.index(text.len())];
        let result = rewrite_json(prefix, &map(), Direction::ToConnect, JsonOptions::default());
        prop_assert!(result.is_err(), "accepted prefix {:?}", String::from_utf8_lossy(prefix));
    }

    #[test]
    fn mutated_documents_agree_with_serde(document in document(), mutations in prop::collection::vec(mutation(), 1..3)) {
        let rendered = render_document(&document);
        let mutated = mutations.iter().fold(rendered.input, apply);
        agrees_with_serde(&mutated)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn split_documents_match_one_shot(
        document in document(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        bytewise in prop::bool::weighted(0.2),
    ) {
        let rendered = render_document(&document);
        let (expected, count) = rewritten(&rendered.input, Direction::ToConnect);
        let (output, streamed_count, error) = streamed(&rendered.input, &cuts, bytewise);
        prop_assert_eq!(String::from_utf8_lossy(&output), String::from_utf8_lossy(&expected));
        prop_assert_eq!(streamed_count, count);
        prop_assert_eq!(error, None);
    }

    /// Invalid input gives the one-shot error for every split, and the same output bytes:
    /// the rewrite stops at the same place.
    #[test]
    fn split_mutated_documents_same_decision(
        document in document(),
        mutations in prop::collection::vec(mutation(), 1..3),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 1..8),
        bytewise in prop::bool::weighted(0.2),
    ) {
        let rendered = render_document(&document);
        let mutated = mutations.iter().fold(rendered.input, apply);
        let whole = streamed(&mutated, &[], false);
        let split = streamed(&mutated, &cuts, bytewise);
        prop_assert_eq!(&split, &whole);
        match rewrite_json(&mutated, &map(), Direction::ToConnect, JsonOptions::default()) {
            Ok(result) => {
                prop_assert_eq!(whole.2, None);
                prop_assert_eq!(whole.0, result.body.unwrap_or(mutated));
            }
            Err(error) => prop_assert_eq!(whole.2, Some(error)),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn arbitrary_bytes_agree_with_serde(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        agrees_with_serde(&bytes)?;
    }

    /// Short sequences of JSON tokens reach near misses such as `[1,]` or `{"a"}` often.
    #[test]
    fn token_sequences_agree_with_serde(tokens in prop::collection::vec(prop::sample::select(TOKENS.to_vec()), 0..12)) {
        agrees_with_serde(tokens.concat().as_bytes())?;
    }
}
