use serde::Serialize;

pub type UserId = i64;

/// A username: 1–150 characters of letters, digits and `@ . + - _` (Django's rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("This field may not be blank.");
        }
        if s.chars().count() > 150 {
            return Err("Ensure this field has no more than 150 characters.");
        }
        if !s
            .chars()
            .all(|c| c.is_alphanumeric() || "@.+-_".contains(c))
        {
            return Err(
                "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.",
            );
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive key that uniqueness and lookups use.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// An email address, syntactically checked; the domain is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim();
        let invalid = "Enter a valid email address.";
        if s.is_empty() || s.len() > 254 {
            return Err(invalid);
        }
        let (local, domain) = s.rsplit_once('@').ok_or(invalid)?;
        let domain_ok = !domain.is_empty()
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"@".contains(c));
        if !(domain_ok && local_ok) {
            return Err(invalid);
        }
        Ok(Self(format!("{local}@{}", domain.to_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A user as every API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct User {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub is_superuser: bool,
    pub email_verified: bool,
    pub roles: Vec<String>,
    pub mfa_enabled: bool,
    pub created_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(Username::parse("alice").is_ok());
        assert!(Username::parse("a.b+c-d_e@f").is_ok());
        assert!(Username::parse("").is_err());
        assert!(Username::parse("bad name").is_err());
        assert!(Username::parse(&"x".repeat(151)).is_err());
        assert_eq!(Username::parse("Alice").unwrap().key(), "alice");
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse("A@Example.COM").unwrap().as_str(),
            "A@example.com"
        );
        assert!(Email::parse("nope").is_err());
        assert!(Email::parse("a@").is_err());
        assert!(Email::parse("@b.c").is_err());
        assert!(Email::parse("a b@c.d").is_err());
    }
}
