//! Floats as decimal text, laid out as Rust's `Display` and Go's `%v` lay them out, from the
//! shortest round-trip digits serde_json writes. The module then carries one float formatter
//! (serde_json's, needed for JSON anyway) instead of two: core's `flt2dec` is about 20 KB of code,
//! and every byte of code costs Envoy memory (BENCHMARKS.md "Memory").

/// A finite float as `0.DIGITS × 10^point`: `digits` has no leading or trailing zeros (empty for
/// zero), so `point` is the number of digits before the decimal point (negative: zeros after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal {
    pub negative: bool,
    pub digits: String,
    pub point: i32,
}

impl Decimal {
    /// The shortest digits that read back as `f`; `None` for infinities and NaN.
    pub fn of(f: f64) -> Option<Decimal> {
        let text = serde_json::Number::from_f64(f)?.to_string();
        let negative = text.starts_with('-');
        let text = text.trim_start_matches('-');
        let (mantissa, exp) = match text.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.trim_start_matches('+').parse::<i32>().ok()?),
            None => (text, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all = format!("{int}{frac}");
        let kept = all.trim_start_matches('0');
        let lead = (all.len() - kept.len()) as i32;
        let digits = kept.trim_end_matches('0').to_owned();
        let point = if digits.is_empty() {
            0
        } else {
            int.len() as i32 + exp - lead
        };
        Some(Decimal {
            negative,
            digits,
            point,
        })
    }

    /// Plain notation, never an exponent: what `format!("{f}")` writes for a finite `f`.
    pub fn plain(&self) -> String {
        let sign = if self.negative { "-" } else { "" };
        if self.digits.is_empty() {
            return format!("{sign}0");
        }
        let len = self.digits.len() as i32;
        if self.point <= 0 {
            format!(
                "{sign}0.{}{}",
                "0".repeat(self.point.unsigned_abs() as usize),
                self.digits
            )
        } else if self.point >= len {
            format!(
                "{sign}{}{}",
                self.digits,
                "0".repeat((self.point - len) as usize)
            )
        } else {
            let (a, b) = self.digits.split_at(self.point as usize);
            format!("{sign}{a}.{b}")
        }
    }
}

/// Finite floats of every magnitude, for differential tests: special values, random bit patterns
/// and short decimals.
#[cfg(test)]
pub(crate) fn sample_floats() -> Vec<f64> {
    let mut v = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.1,
        0.1 + 0.2,
        1e21,
        1e22,
        123456.0,
        1e-5,
        0.0001,
        1_795_317_608.0,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        f64::EPSILON,
        5e-324,
        9007199254740993.0,
        2.5,
        1e15,
        1e16,
        1e300,
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while v.len() < 200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let f = f64::from_bits(x);
        if f.is_finite() {
            v.push(f);
        }
        // Short decimals too, the kind a JSON document carries.
        v.push((x % 1_000_000) as f64 / 1000.0);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same text as core's formatting for every float, but for the last digit of a value
    /// exactly halfway between two shortest forms: serde_json rounds that to even (as Go's
    /// strconv does), core rounds it up. Both read back as the same float.
    #[test]
    fn plain_is_rusts_display() {
        let mut ties = 0;
        for f in sample_floats() {
            let d = Decimal::of(f).unwrap_or_else(|| unreachable!("{f}"));
            let (ours, core) = (d.plain(), format!("{f}"));
            if ours != core {
                ties += 1;
                assert_eq!(ours.len(), core.len(), "{:#x}", f.to_bits());
                assert_eq!(ours[..ours.len() - 1], core[..core.len() - 1]);
                assert_eq!(ours.parse::<f64>().ok(), Some(f));
            }
        }
        assert!(ties < 100, "{ties}");
    }

    #[test]
    fn digits_and_point() {
        let d = |f: f64| Decimal::of(f).map(|d| (d.negative, d.digits, d.point));
        assert_eq!(d(0.0), Some((false, String::new(), 0)));
        assert_eq!(d(-2.5), Some((true, "25".into(), 1)));
        assert_eq!(d(0.00012), Some((false, "12".into(), -3)));
        assert_eq!(d(1e21), Some((false, "1".into(), 22)));
        assert_eq!(d(f64::NAN), None);
    }
}
