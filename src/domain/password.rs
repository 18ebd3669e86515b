use std::{collections::HashSet, fmt};

/// A secret string (password, token) whose Debug never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A password that passed the policy; only these are ever hashed for storage.
#[derive(Debug, Clone)]
pub struct NewPassword(Secret);

impl NewPassword {
    pub fn secret(&self) -> &Secret {
        &self.0
    }
}

/// Length bounds and a list of passwords too common to allow.
pub struct PasswordPolicy {
    common: HashSet<&'static str>,
}

const COMMON_PASSWORDS: &str = include_str!("../core/common-passwords.txt");

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            common: COMMON_PASSWORDS
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect(),
        }
    }
}

impl PasswordPolicy {
    pub const MIN_BYTES: usize = 8;
    pub const MAX_BYTES: usize = 1024;

    /// Checks a new password; `related` are values it must not equal (username, email).
    pub fn parse(&self, raw: &str, related: &[&str]) -> Result<NewPassword, &'static str> {
        if raw.len() < Self::MIN_BYTES {
            return Err("This password is too short. It must contain at least 8 characters.");
        }
        if raw.len() > Self::MAX_BYTES {
            return Err("This password is too long. It must contain at most 1024 bytes.");
        }
        let lowered = raw.to_lowercase();
        if self.common.contains(lowered.trim()) {
            return Err("This password is too common.");
        }
        if related
            .iter()
            .any(|r| !r.is_empty() && r.to_lowercase() == lowered)
        {
            return Err("The password is too similar to the username or email.");
        }
        if raw.chars().all(|c| c.is_ascii_digit()) {
            return Err("This password is entirely numeric.");
        }
        Ok(NewPassword(Secret::new(raw)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        let p = PasswordPolicy::default();
        assert!(p.parse("short", &[]).is_err());
        assert!(p.parse("password", &[]).is_err());
        assert!(p.parse("PassWord", &[]).is_err());
        assert!(p.parse("12345678901", &[]).is_err());
        assert!(p.parse("alice-example", &["alice-example"]).is_err());
        assert!(p.parse(&"x".repeat(1025), &[]).is_err());
        assert!(p.parse("correct horse battery", &["alice"]).is_ok());
    }
}
