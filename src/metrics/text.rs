//! The text exposition format writer: a [`Family`] buffers its samples and
//! writes HELP, TYPE and samples (or nothing when it has none); label values
//! are escaped.

use std::io::Write;

use crate::model::Gateway;

/// Metric type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `gauge`
    Gauge,
    /// `counter`
    Counter,
}

/// A sample value: integers are written exactly (uint64 counters exceed
/// f64's 53 bits), floats in Prometheus' spelling (`NaN`, `+Inf`, `-Inf`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// An integer.
    U(u64),
    /// A float.
    F(f64),
}

/// One metric family being written: its samples are buffered so that a
/// family without samples writes nothing, not even HELP and TYPE.
pub struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    buf: String,
}

impl Family {
    /// An empty family.
    pub fn new(name: &'static str, help: &'static str, kind: Kind) -> Family {
        Family {
            name,
            help,
            kind,
            buf: String::new(),
        }
    }

    /// A sample labelled with the gateway's ID only.
    pub fn gateway(&mut self, g: &Gateway, v: Value) {
        self.sample(&[("gateway_id", g.id.as_str())], v);
    }

    /// Add a sample; label values are escaped (`\\`, `"`, newline).
    pub fn sample(&mut self, labels: &[(&str, &str)], v: Value) {
        use std::fmt::Write as _;
        let b = &mut self.buf;
        b.push_str(self.name);
        for (i, (k, val)) in labels.iter().enumerate() {
            b.push(if i == 0 { '{' } else { ',' });
            b.push_str(k);
            b.push_str("=\"");
            escape_label_value(val, b);
            b.push('"');
        }
        if !labels.is_empty() {
            b.push('}');
        }
        b.push(' ');
        // Writing to a String cannot fail.
        let _ = match v {
            Value::U(u) => write!(b, "{u}"),
            Value::F(f) if f.is_nan() => write!(b, "NaN"),
            Value::F(f) if f == f64::INFINITY => write!(b, "+Inf"),
            Value::F(f) if f == f64::NEG_INFINITY => write!(b, "-Inf"),
            Value::F(f) => write!(b, "{f}"),
        };
        b.push('\n');
    }

    /// Write HELP, TYPE and the samples, if there are any.
    pub fn finish(self, out: &mut impl Write) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let kind = match self.kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        };
        write!(
            out,
            "# HELP {} {}\n# TYPE {} {kind}\n",
            self.name, self.help, self.name
        )?;
        out.write_all(self.buf.as_bytes())
    }
}

/// Escape a label value for the text format.
pub fn escape_label_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}
