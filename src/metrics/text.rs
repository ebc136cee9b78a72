//! The one text exposition format writer of the exporter: a [`Family`]
//! buffers its samples and writes HELP, TYPE and samples (or nothing when
//! it has none). It owns the HELP escaping, the label-value escaping, the
//! float spelling and the histogram series (`_bucket`, `_sum`, `_count`);
//! the gateway families, the events families and the `prometheus` crate's
//! registry ([`write_gathered`]) are all written by it.

use std::io::Write;

use crate::model::Gateway;

/// Metric type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `gauge`
    Gauge,
    /// `counter`
    Counter,
    /// `histogram`
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        }
    }
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
pub struct Family<'a> {
    name: &'a str,
    help: &'a str,
    kind: Kind,
    buf: String,
}

impl<'a> Family<'a> {
    /// An empty family.
    pub fn new(name: &'a str, help: &'a str, kind: Kind) -> Family<'a> {
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
        let name = self.name;
        self.line(name, "", labels, None, v);
    }

    /// Add one histogram series (for a family of [`Kind::Histogram`]):
    /// `buckets` holds the observations per bucket, not cumulative, one
    /// more than `bounds` (the last is above every bound); written as the
    /// cumulative `_bucket` series with `le` (the last `+Inf`), `_sum` and
    /// `_count`.
    pub fn histogram(
        &mut self,
        labels: &[(&str, &str)],
        bounds: &[f64],
        buckets: &[u64],
        sum: f64,
        count: u64,
    ) {
        let name = self.name;
        let mut cum = 0u64;
        let mut le = String::new();
        for (i, n) in buckets.iter().enumerate() {
            cum = cum.saturating_add(*n);
            le.clear();
            write_float(bounds.get(i).copied().unwrap_or(f64::INFINITY), &mut le);
            self.line(name, "_bucket", labels, Some(("le", &le)), Value::U(cum));
        }
        self.line(name, "_sum", labels, None, Value::F(sum));
        self.line(name, "_count", labels, None, Value::U(count));
    }

    fn line(
        &mut self,
        name: &str,
        suffix: &str,
        labels: &[(&str, &str)],
        extra: Option<(&str, &str)>,
        v: Value,
    ) {
        use std::fmt::Write as _;
        let b = &mut self.buf;
        b.push_str(name);
        b.push_str(suffix);
        for (i, (k, val)) in labels.iter().chain(extra.iter()).enumerate() {
            b.push(if i == 0 { '{' } else { ',' });
            b.push_str(k);
            b.push_str("=\"");
            escape_label_value(val, b);
            b.push('"');
        }
        if !labels.is_empty() || extra.is_some() {
            b.push('}');
        }
        b.push(' ');
        match v {
            // Writing to a String cannot fail.
            Value::U(u) => {
                let _ = write!(b, "{u}");
            }
            Value::F(f) => write_float(f, b),
        }
        b.push('\n');
    }

    /// Write HELP, TYPE and the samples, if there are any.
    pub fn finish<W: Write + ?Sized>(self, out: &mut W) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut head = String::with_capacity(self.help.len() + 2 * self.name.len() + 24);
        head.push_str("# HELP ");
        head.push_str(self.name);
        head.push(' ');
        escape_help(self.help, &mut head);
        head.push_str("\n# TYPE ");
        head.push_str(self.name);
        head.push(' ');
        head.push_str(self.kind.as_str());
        head.push('\n');
        out.write_all(head.as_bytes())?;
        out.write_all(self.buf.as_bytes())
    }
}

/// Write a float in Prometheus' spelling: `NaN`, `+Inf`, `-Inf`, else the
/// shortest decimal that reads back the same (`-120`, `7.5`).
pub fn write_float(f: f64, out: &mut String) {
    use std::fmt::Write as _;
    if f.is_nan() {
        out.push_str("NaN");
    } else if f == f64::INFINITY {
        out.push_str("+Inf");
    } else if f == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        // Writing to a String cannot fail.
        let _ = write!(out, "{f}");
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

/// Escape a HELP text: `\\` and newline (a `"` stays as it is).
fn escape_help(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Write the families gathered from a `prometheus` crate registry
/// (`Registry::gather`), in their order; a family without samples writes
/// nothing. Counters and gauges are written, with their labels in the
/// registry's order; the exporter registers no other type there, so a
/// histogram, summary or untyped family is left out with an error logged.
pub fn write_gathered<W: Write + ?Sized>(
    families: &[prometheus::proto::MetricFamily],
    out: &mut W,
) -> std::io::Result<()> {
    use prometheus::proto::MetricType;
    for mf in families {
        let kind = match mf.get_field_type() {
            MetricType::COUNTER => Kind::Counter,
            MetricType::GAUGE => Kind::Gauge,
            other => {
                tracing::error!("cannot write metric family {} of type {other:?}", mf.name());
                continue;
            }
        };
        let mut f = Family::new(mf.name(), mf.help(), kind);
        for m in mf.get_metric() {
            let labels: Vec<(&str, &str)> = m
                .get_label()
                .iter()
                .map(|l| (l.name(), l.value()))
                .collect();
            let v = match kind {
                Kind::Counter => m.get_counter().get_value(),
                _ => m.get_gauge().get_value(),
            };
            f.sample(&labels, Value::F(v));
        }
        f.finish(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: Family<'_>) -> String {
        let mut out = Vec::new();
        f.finish(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_family_without_samples_writes_nothing() {
        assert_eq!(text(Family::new("x", "X.", Kind::Gauge)), "");
    }

    #[test]
    fn help_type_and_escaped_label_values() {
        let mut f = Family::new(
            "x_total",
            "Help with \\ and\nnewline \"quoted\".",
            Kind::Counter,
        );
        f.sample(
            &[("a", "back\\slash \"q\"\nnl"), ("b", "ü")],
            Value::U(u64::MAX),
        );
        f.sample(&[], Value::U(0));
        assert_eq!(
            text(f),
            "# HELP x_total Help with \\\\ and\\nnewline \"quoted\".\n# TYPE x_total counter\n\
             x_total{a=\"back\\\\slash \\\"q\\\"\\nnl\",b=\"ü\"} 18446744073709551615\nx_total 0\n"
        );
    }

    #[test]
    fn floats_in_prometheus_spelling() {
        let mut s = String::new();
        for f in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -120.0,
            7.5,
            0.1,
            1e21,
            -0.0,
        ] {
            write_float(f, &mut s);
            s.push(' ');
        }
        assert_eq!(s, "NaN +Inf -Inf -120 7.5 0.1 1000000000000000000000 -0 ");
    }

    #[test]
    fn histogram_buckets_are_cumulative_with_inf_sum_and_count() {
        let mut f = Family::new("h", "H.", Kind::Histogram);
        f.histogram(
            &[("gateway_id", "g\"1")],
            &[-10.0, 2.5],
            &[1, 0, 2],
            -3.5,
            3,
        );
        assert_eq!(
            text(f),
            "# HELP h H.\n# TYPE h histogram\n\
             h_bucket{gateway_id=\"g\\\"1\",le=\"-10\"} 1\n\
             h_bucket{gateway_id=\"g\\\"1\",le=\"2.5\"} 1\n\
             h_bucket{gateway_id=\"g\\\"1\",le=\"+Inf\"} 3\n\
             h_sum{gateway_id=\"g\\\"1\"} -3.5\n\
             h_count{gateway_id=\"g\\\"1\"} 3\n"
        );
    }

    /// The self metrics were written by the `prometheus` crate's encoder:
    /// the writer gives the same bytes for the registry's families.
    #[test]
    fn gathered_families_as_the_prometheus_encoder_writes_them() {
        let r = prometheus::Registry::new();
        let c = prometheus::IntCounterVec::new(
            prometheus::Opts::new("a_total", "A \\ b\nc \"d\"."),
            &["z", "code"],
        )
        .unwrap();
        c.with_label_values(&["x\"\\\n", "200"]).inc_by(3);
        c.with_label_values(&["y", "500"]).inc();
        let g = prometheus::Gauge::new("b_seconds", "B.").unwrap();
        g.set(1.25);
        let empty =
            prometheus::IntCounterVec::new(prometheus::Opts::new("c", "C."), &["l"]).unwrap();
        r.register(Box::new(c)).unwrap();
        r.register(Box::new(g)).unwrap();
        r.register(Box::new(empty)).unwrap();
        let mut families = r.gather();
        let mut ours = Vec::new();
        write_gathered(&families, &mut ours).unwrap();
        families.retain(|f| !f.get_metric().is_empty());
        let theirs = prometheus::TextEncoder::new()
            .encode_to_string(&families)
            .unwrap();
        assert_eq!(String::from_utf8(ours).unwrap(), theirs);
        assert!(
            theirs.contains("a_total{code=\"200\",z=\"x\\\"\\\\\\n\"} 3\n"),
            "{theirs}"
        );
    }
}
