//! argon2id hashing on a bounded pool off the async workers.

use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier, Version,
};
use tokio::sync::Semaphore;

use super::{CoreError, legacy_hashes::StoredHash};
use crate::{config, domain::Secret};

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub valid: bool,
    /// The hash is valid but weaker than current policy; store a fresh one.
    pub outdated: bool,
}

pub struct PasswordHasher {
    params: Params,
    /// One permit per hash that may run at once.
    running: Arc<Semaphore>,
    /// Permits for running plus waiting hashes; when none is left the caller gets 503.
    admitted: Arc<Semaphore>,
    /// Verified when the user does not exist, so that costs the same as a wrong password.
    dummy_hash: String,
    capacity: usize,
}

impl PasswordHasher {
    pub fn new(cfg: &config::Passwords) -> anyhow::Result<Self> {
        let params = Params::new(cfg.memory_kib, cfg.iterations, cfg.parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let workers = if cfg.workers == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            cfg.workers
        };
        let dummy_hash = hash_with(&params, &super::secrets::random_token(16))?;
        Ok(Self {
            params,
            running: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(Semaphore::new(workers + cfg.queue)),
            dummy_hash,
            capacity: workers + cfg.queue,
        })
    }

    pub async fn hash(&self, password: &Secret) -> Result<String, CoreError> {
        let params = self.params.clone();
        let password = password.clone();
        self.run(move || hash_with(&params, password.expose()))
            .await?
            .map_err(CoreError::Internal)
    }

    /// Checks `password` against `stored`, or against a dummy hash when there is no user.
    pub async fn verify(
        &self,
        password: &Secret,
        stored: Option<&str>,
    ) -> Result<Verdict, CoreError> {
        let exists = stored.is_some();
        let stored = stored.unwrap_or(&self.dummy_hash).to_owned();
        let dummy = self.dummy_hash.clone();
        let password = password.clone();
        let current = self.params.clone();
        let verdict = self
            .run(move || verify_with(&current, password.expose(), &stored, &dummy))
            .await?;
        Ok(Verdict {
            valid: verdict.valid && exists,
            outdated: verdict.outdated,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CoreError> {
        let _admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| CoreError::Overloaded)?;
        let _running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| CoreError::Overloaded)?;
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|e| CoreError::Internal(anyhow::anyhow!("hashing task failed: {e}")))
    }

    /// Hashes waiting or running now.
    pub fn in_flight(&self) -> usize {
        self.capacity
            .saturating_sub(self.admitted.available_permits())
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_with(params: &Params, password: &str) -> anyhow::Result<String> {
    argon2(params)
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
}

/// Verifies against any stored form Castellan knows. Anything but a current argon2id hash
/// is outdated. A hash that cannot be verified at all (unusable, unknown) costs the same as
/// a wrong password, so timing does not tell such accounts apart.
fn verify_with(current: &Params, password: &str, stored: &str, dummy: &str) -> Verdict {
    match StoredHash::parse(stored) {
        Ok(StoredHash::Argon2 { phc, foreign }) => {
            let verdict = verify_argon2(current, password, &phc);
            Verdict {
                valid: verdict.valid,
                outdated: verdict.outdated || foreign,
            }
        }
        Ok(legacy) => Verdict {
            valid: legacy.matches(password),
            outdated: true,
        },
        Err(_) => {
            verify_argon2(current, password, dummy);
            Verdict {
                valid: false,
                outdated: false,
            }
        }
    }
}

/// Checks an argon2 PHC string with its own variant, version and parameters; it is
/// outdated unless it is argon2id v0x13 with exactly the current parameters (weaker ones
/// are unsafe, stronger ones slow every login past the capacity the pool was sized for).
fn verify_argon2(current: &Params, password: &str, stored: &str) -> Verdict {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verdict {
            valid: false,
            outdated: false,
        };
    };
    let valid = argon2(current)
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    let outdated = match Params::try_from(&parsed) {
        Ok(p) => {
            parsed.algorithm.as_str() != "argon2id"
                || parsed.version != Some(Version::V0x13.into())
                || p.m_cost() != current.m_cost()
                || p.t_cost() != current.t_cost()
                || p.p_cost() != current.p_cost()
        }
        Err(_) => true,
    };
    Verdict { valid, outdated }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> config::Passwords {
        config::Passwords {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            workers: 1,
            queue: 1,
        }
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let h = PasswordHasher::new(&cheap()).unwrap();
        let pw = Secret::new("correct horse");
        let stored = h.hash(&pw).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(h.verify(&pw, Some(&stored)).await.unwrap().valid);
        assert!(
            !h.verify(&Secret::new("wrong"), Some(&stored))
                .await
                .unwrap()
                .valid
        );
        assert!(!h.verify(&pw, None).await.unwrap().valid);
    }

    #[tokio::test]
    async fn weaker_hash_is_outdated() {
        let weak = PasswordHasher::new(&cheap()).unwrap();
        let strong = PasswordHasher::new(&config::Passwords {
            memory_kib: 128,
            ..cheap()
        })
        .unwrap();
        let pw = Secret::new("correct horse");
        let stored = weak.hash(&pw).await.unwrap();
        let v = strong.verify(&pw, Some(&stored)).await.unwrap();
        assert!(v.valid && v.outdated);
    }
}
