//! A JSON tree that keeps key order and refuses duplicate keys, plus a reader that walks it
//! with the JSON pointer of every value, so each error can name exactly what is wrong.

use std::borrow::Cow;
use std::fmt;
use std::fmt::Write as _;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::PolicyError;

/// Strings borrow from the policy text where they can (no escapes): building and dropping the
/// tree was most of the cost of reading a policy.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str(Cow<'a, str>),
    Arr(Vec<Json<'a>>),
    Obj(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl Json<'_> {
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Num(_) => "a number",
            Json::Str(_) => "a string",
            Json::Arr(_) => "an array",
            Json::Obj(_) => "an object",
        }
    }
}

/// A string that borrows from the input when it has no escapes.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Json<'de>, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Json<'de>, E> {
                Ok(Json::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Json<'de>, E> {
                Ok(Json::Num(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Json<'de>, E> {
                Ok(Json::Num(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json<'de>, E> {
                serde_json::Number::from_f64(v).map(Json::Num).ok_or_else(|| E::custom("number out of range"))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json<'de>, E> {
                Ok(Json::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Json<'de>, E> {
                Ok(Json::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Json<'de>, E> {
                Ok(Json::Str(Cow::Owned(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(Json::Arr(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
                let mut out: Vec<(Cow<'de, str>, Json<'de>)> = Vec::new();
                while let Some(Text(k)) = map.next_key::<Text<'de>>()? {
                    if out.iter().any(|(seen, _)| *seen == k) {
                        return Err(de::Error::custom(format_args!("duplicate key \"{k}\"")));
                    }
                    let v = map.next_value()?;
                    out.push((k, v));
                }
                Ok(Json::Obj(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses a whole document; syntax errors carry serde_json's line and column.
pub fn parse<'a>(text: &'a str, origin: &str) -> Result<Json<'a>, PolicyError> {
    serde_json::from_str::<Json>(text).map_err(|e| PolicyError::Syntax {
        origin: origin.to_owned(),
        line: e.line(),
        column: e.column(),
        msg: strip_position(&e.to_string()),
    })
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// A JSON pointer, built as the reader descends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ptr(String);

impl Ptr {
    pub fn root() -> Ptr {
        Ptr(String::new())
    }
    pub fn key(&self, k: &str) -> Ptr {
        let mut s = String::with_capacity(self.0.len() + 1 + k.len());
        s.push_str(&self.0);
        s.push('/');
        if k.contains(['~', '/']) {
            s.push_str(&k.replace('~', "~0").replace('/', "~1"));
        } else {
            s.push_str(k);
        }
        Ptr(s)
    }
    pub fn index(&self, i: usize) -> Ptr {
        let mut s = String::with_capacity(self.0.len() + 4);
        s.push_str(&self.0);
        let _ = write!(s, "/{i}");
        Ptr(s)
    }
    pub fn as_str(&self) -> &str {
        if self.0.is_empty() { "/" } else { &self.0 }
    }
}

impl fmt::Display for Ptr {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads one object's fields; `finish` refuses keys nobody asked for.
pub struct ObjReader<'a, 'j> {
    ptr: Ptr,
    fields: &'a [(Cow<'j, str>, Json<'j>)],
    used: Vec<bool>,
}

impl<'a, 'j> ObjReader<'a, 'j> {
    pub fn new(v: &'a Json<'j>, ptr: &Ptr) -> Result<Self, PolicyError> {
        match v {
            Json::Obj(fields) => Ok(ObjReader { ptr: ptr.clone(), used: vec![false; fields.len()], fields }),
            other => Err(PolicyError::at(ptr, format!("expected an object, found {}", other.kind()))),
        }
    }

    /// The value of `key` with its pointer, if present (JSON `null` counts as present).
    pub fn get(&mut self, key: &str) -> Option<(&'a Json<'j>, Ptr)> {
        let i = self.fields.iter().position(|(k, _)| k == key)?;
        self.used[i] = true;
        Some((&self.fields[i].1, self.ptr.key(key)))
    }

    /// Fails on the first key that was not read; `known` feeds the "did you mean" hint.
    pub fn finish(self, known: &[&str]) -> Result<(), PolicyError> {
        for (i, (k, _)) in self.fields.iter().enumerate() {
            if !self.used[i] {
                let mut msg = format!("unknown key \"{k}\"");
                if let Some(s) = suggest(k, known) {
                    msg.push_str(&format!("; did you mean \"{s}\"?"));
                } else if !known.is_empty() {
                    msg.push_str(&format!("; known keys: {}", known.join(", ")));
                }
                return Err(PolicyError::at(&self.ptr.key(k), msg));
            }
        }
        Ok(())
    }
}

/// The closest candidate within a small edit distance, for "did you mean" hints.
pub fn suggest<'k>(word: &str, candidates: &[&'k str]) -> Option<&'k str> {
    let w = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&w, &c.to_ascii_lowercase()), *c))
        .filter(|(d, c)| *d <= 1.max(c.len().min(w.len()) / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
/// neighbouring letters (the usual typo) each count one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

// Typed accessors: each names the pointer and what was expected.

pub fn as_str<'a>(v: &'a Json<'_>, ptr: &Ptr) -> Result<&'a str, PolicyError> {
    match v {
        Json::Str(s) => Ok(s),
        other => Err(expected(ptr, "a string", other)),
    }
}

pub fn as_bool(v: &Json, ptr: &Ptr) -> Result<bool, PolicyError> {
    match v {
        Json::Bool(b) => Ok(*b),
        other => Err(expected(ptr, "true or false", other)),
    }
}

pub fn as_u64(v: &Json, ptr: &Ptr) -> Result<u64, PolicyError> {
    match v {
        Json::Num(n) => {
            n.as_u64().ok_or_else(|| PolicyError::at(ptr, format!("expected a non-negative integer, found {n}")))
        }
        other => Err(expected(ptr, "a non-negative integer", other)),
    }
}

pub fn as_f64(v: &Json, ptr: &Ptr) -> Result<f64, PolicyError> {
    match v {
        Json::Num(n) => n.as_f64().ok_or_else(|| PolicyError::at(ptr, format!("number out of range: {n}"))),
        other => Err(expected(ptr, "a number", other)),
    }
}

pub fn as_arr<'a, 'j>(v: &'a Json<'j>, ptr: &Ptr) -> Result<&'a [Json<'j>], PolicyError> {
    match v {
        Json::Arr(a) => Ok(a),
        other => Err(expected(ptr, "an array", other)),
    }
}

pub fn expected(ptr: &Ptr, what: &str, found: &Json) -> PolicyError {
    PolicyError::at(ptr, format!("expected {what}, found {}", found.kind()))
}

/// Reads an array of strings.
pub fn str_list(v: &Json, ptr: &Ptr) -> Result<Vec<(String, Ptr)>, PolicyError> {
    as_arr(v, ptr)?
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let p = ptr.index(i);
            as_str(item, &p).map(|s| (s.to_owned(), p))
        })
        .collect()
}

#[cfg(all(test, not(selfbox_tools)))]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_with_position() {
        let e = parse("{\"a\": 1,\n \"a\": 2}", "p.json").unwrap_err().to_string();
        assert!(e.contains("duplicate key \"a\""), "{e}");
        assert!(e.contains("p.json:2:"), "{e}");
        assert!(parse("{\"a\": {\"b\": 1}, \"b\": {\"b\": 2}}", "x").is_ok());
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let e = parse("{\n  \"a\": [1, 2,]\n}", "p.json").unwrap_err().to_string();
        assert!(e.contains("p.json:2:"), "{e}");
    }

    #[test]
    fn pointer_escapes() {
        assert_eq!(Ptr::root().key("a/b").key("c~d").index(3).as_str(), "/a~1b/c~0d/3");
        assert_eq!(Ptr::root().as_str(), "/");
    }

    #[test]
    fn unknown_keys_get_suggestions() {
        let v = parse("{\"readonyl\": true}", "x").unwrap();
        let r = ObjReader::new(&v, &Ptr::root().key("mounts").index(0)).unwrap();
        let e = r.finish(&["source", "target", "readonly"]).unwrap_err().to_string();
        assert!(e.contains("/mounts/0/readonyl"), "{e}");
        assert!(e.contains("did you mean \"readonly\""), "{e}");
    }
}
