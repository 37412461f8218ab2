//! Span fields as one JSON object, written as they are recorded.
//! tracing-subscriber's `JsonFields` builds a map of `serde_json::Value`s
//! for every new span and serialises it: the gateway opens a span per HTTP
//! request, and that was 3 % of its CPU per call. The JSON event formatter
//! reads the object back to print a line's `span`, so the shape is the same.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// Formats span fields as `{"name":value,...}`.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonSpanFields;

impl<'writer> FormatFields<'writer> for JsonSpanFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut object = Object::new(&mut writer);
        fields.record(&mut object);
        object.finish()
    }

    /// Fields recorded after the span began join its object.
    fn add_fields(
        &self,
        current: &'writer mut tracing_subscriber::fmt::FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let Some(open) = current.fields.strip_suffix('}').map(str::len) else {
            return self.format_fields(current.as_writer(), fields);
        };
        let mut added = String::new();
        let mut object = Object::new(&mut added);
        fields.record(&mut object);
        object.finish()?;
        let added = &added[1..added.len() - 1];
        if added.is_empty() {
            return Ok(());
        }
        current.fields.truncate(open);
        if open > 1 {
            current.fields.push(',');
        }
        current.fields.push_str(added);
        current.fields.push('}');
        Ok(())
    }
}

/// A JSON object being written, one field at a time.
struct Object<'a, W: fmt::Write> {
    out: &'a mut W,
    empty: bool,
    result: fmt::Result,
    /// Reused for values that must be formatted before they are escaped.
    scratch: String,
}

impl<'a, W: fmt::Write> Object<'a, W> {
    fn new(out: &'a mut W) -> Self {
        let result = out.write_char('{');
        Self {
            out,
            empty: true,
            result,
            scratch: String::new(),
        }
    }

    fn finish(self) -> fmt::Result {
        self.result?;
        self.out.write_char('}')
    }

    fn key(&mut self, field: &Field) -> fmt::Result {
        if !std::mem::take(&mut self.empty) {
            self.out.write_char(',')?;
        }
        let name = field.name();
        string(self.out, name.strip_prefix("r#").unwrap_or(name))?;
        self.out.write_char(':')
    }

    fn raw(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_ok() {
            self.result = self.key(field).and_then(|()| self.out.write_fmt(value));
        }
    }

    fn text(&mut self, field: &Field, value: &str) {
        if self.result.is_ok() {
            self.result = self.key(field).and_then(|()| string(self.out, value));
        }
    }
}

impl<W: fmt::Write> Visit for Object<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.raw(field, format_args!("{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.raw(field, format_args!("{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.raw(field, format_args!("{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.raw(field, format_args!("{value}"));
        } else {
            // JSON has no NaN or infinity.
            self.text(field, &value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        if write!(scratch, "{value:?}").is_ok() {
            self.text(field, &scratch);
        }
        self.scratch = scratch;
    }
}

/// `value` as a JSON string.
fn string(out: &mut impl fmt::Write, value: &str) -> fmt::Result {
    out.write_char('"')?;
    let mut plain = 0;
    for (at, c) in value.char_indices() {
        let escaped = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if c < ' ' => "",
            _ => continue,
        };
        out.write_str(&value[plain..at])?;
        if escaped.is_empty() {
            write!(out, "\\u{:04x}", c as u32)?;
        } else {
            out.write_str(escaped)?;
        }
        plain = at + c.len_utf8();
    }
    out.write_str(&value[plain..])?;
    out.write_char('"')
}

#[cfg(test)]
mod tests {
    use hangar_testenv::logs::CapturedLogs;
    use serde_json::{Value, json};

    /// What a JSON subscriber with these fields wrote, one value per line.
    fn lines(emit: impl FnOnce()) -> Vec<Value> {
        let captured = CapturedLogs::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .fmt_fields(super::JsonSpanFields)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        captured
            .text()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    #[test]
    fn a_lines_span_carries_its_fields_as_they_were_given() {
        let awkward = "quote \" backslash \\ newline \n tab \t bell \u{7} é";
        let lines = lines(|| {
            let span = tracing::info_span!(
                "request",
                request_id = %"abc-1",
                method = ?"POST",
                path = "/mcp",
                awkward,
                count = 3u64,
                delta = -2i64,
                ok = true,
                ratio = 0.5f64,
                r#type = "raw",
            );
            span.in_scope(|| tracing::info!(status = 200, "served"));
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(
            lines[0]["span"],
            json!({
                "name": "request", "request_id": "abc-1", "method": "\"POST\"",
                "path": "/mcp", "awkward": awkward, "count": 3, "delta": -2,
                "ok": true, "ratio": 0.5, "type": "raw",
            })
        );
        assert_eq!(lines[0]["message"], "served");
        assert_eq!(lines[0]["status"], 200);
    }

    #[test]
    fn fields_recorded_later_join_the_span() {
        let lines = lines(|| {
            let span = tracing::info_span!(
                "reconcile",
                object = "a",
                reason = tracing::field::Empty,
                late = tracing::field::Empty
            );
            span.in_scope(|| tracing::info!("before"));
            span.record("reason", "changed");
            span.in_scope(|| tracing::info!("after"));
            let bare = tracing::info_span!("bare", later = tracing::field::Empty);
            bare.record("later", 7u64);
            bare.in_scope(|| tracing::info!("bare"));
            let not_a_number = tracing::info_span!("nan", value = f64::NAN);
            not_a_number.in_scope(|| tracing::info!("nan"));
        });
        assert_eq!(
            lines[0]["span"],
            json!({"name": "reconcile", "object": "a"})
        );
        assert_eq!(
            lines[1]["span"],
            json!({"name": "reconcile", "object": "a", "reason": "changed"})
        );
        assert_eq!(lines[2]["span"], json!({"name": "bare", "later": 7}));
        assert_eq!(lines[3]["span"], json!({"name": "nan", "value": "NaN"}));
    }
}
