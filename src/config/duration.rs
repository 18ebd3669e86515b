use std::{fmt, str::FromStr, time::Duration as StdDuration};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written as `90s`, `15m`, `1h`, `7d`, `250ms`, or a whole number of seconds.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Duration(pub StdDuration);

impl Duration {
    pub const fn secs(s: u64) -> Self {
        Self(StdDuration::from_secs(s))
    }

    pub fn as_secs(&self) -> i64 {
        i64::try_from(self.0.as_secs()).unwrap_or(i64::MAX)
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms % 1000 != 0 {
            write!(f, "{ms}ms")
        } else {
            write!(f, "{}s", ms / 1000)
        }
    }
}

impl FromStr for Duration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, unit) = s.split_at(split);
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("`{s}` is not a duration like 30s, 15m, 1h or 7d"))?;
        let seconds = |mult: u64| n.checked_mul(mult).map(StdDuration::from_secs);
        let d = match unit.trim() {
            "" | "s" => seconds(1),
            "ms" => Some(StdDuration::from_millis(n)),
            "m" => seconds(60),
            "h" => seconds(3600),
            "d" => seconds(86400),
            _ => None,
        };
        d.map(Duration)
            .ok_or_else(|| format!("`{s}` is not a duration like 30s, 15m, 1h or 7d"))
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(n) => Ok(Duration::secs(n)),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!("10s".parse::<Duration>().unwrap(), Duration::secs(10));
        assert_eq!("1h".parse::<Duration>().unwrap(), Duration::secs(3600));
        assert_eq!("7d".parse::<Duration>().unwrap(), Duration::secs(604800));
        assert_eq!("0s".parse::<Duration>().unwrap(), Duration::secs(0));
        assert!("ten".parse::<Duration>().is_err());
        assert!("5y".parse::<Duration>().is_err());
    }
}
