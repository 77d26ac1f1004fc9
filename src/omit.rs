//! Which empty fields JSON leaves out, and the switch that makes a positional encoding (the
//! stored states') write every field, since it reads fields by their place, not their name.

use std::cell::Cell;

thread_local! {
    /// Set while this thread writes a positional encoding.
    static EVERY_FIELD: Cell<bool> = const { Cell::new(false) };
}

/// Whether a field holding `None` is left out.
pub fn none<T>(v: &Option<T>) -> bool {
    v.is_none() && !every_field()
}

/// Whether an empty list is left out.
pub fn empty<T>(v: &[T]) -> bool {
    v.is_empty() && !every_field()
}

/// Whether `false` is left out.
pub fn falsy(v: &bool) -> bool {
    !*v && !every_field()
}

fn every_field() -> bool {
    EVERY_FIELD.with(Cell::get)
}

/// Runs `write` with every field written, on this thread, however it ends.
pub fn with_every_field<R>(write: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            EVERY_FIELD.with(|f| f.set(self.0));
        }
    }
    let _reset = Reset(EVERY_FIELD.with(|f| f.replace(true)));
    write()
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Row {
        #[serde(skip_serializing_if = "super::none", default)]
        a: Option<String>,
        #[serde(skip_serializing_if = "super::empty", default)]
        b: Vec<u32>,
        #[serde(skip_serializing_if = "super::falsy", default)]
        c: bool,
        d: u8,
    }

    /// JSON leaves the empty fields out; a positional encoding keeps them and reads back.
    #[test]
    fn json_omits_and_positional_keeps_every_field() {
        let row = Row {
            a: None,
            b: vec![],
            c: false,
            d: 7,
        };
        assert_eq!(serde_json::to_string(&row).unwrap(), r#"{"d":7}"#);
        let bytes = super::with_every_field(|| postcard::to_stdvec(&row).unwrap());
        assert_eq!(bytes, [0, 0, 0, 7]);
        assert_eq!(postcard::from_bytes::<Row>(&bytes).unwrap(), row);
        // The switch is off again afterwards.
        assert_eq!(serde_json::to_string(&row).unwrap(), r#"{"d":7}"#);
    }
}
