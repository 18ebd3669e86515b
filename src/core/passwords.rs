//! argon2id hashing on a fixed set of dedicated threads, off the async workers, behind a
//! bounded queue. Dedicated threads (rather than tokio's blocking pool, which grows to
//! hundreds of threads under a flood) keep memory at `workers` × the argon2 memory cost.

use std::sync::{Arc, Mutex, OnceLock, mpsc};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier, Version,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::{CoreError, legacy_hashes::StoredHash};
use crate::{config, domain::Secret};

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub valid: bool,
    /// The hash is valid but weaker than current policy; store a fresh one.
    pub outdated: bool,
}

type Job = Box<dyn FnOnce() + Send>;

/// A place in the hashing queue, taken before any other work so that an overloaded server
/// refuses cheaply. Dropping it gives the place back.
pub struct Slot {
    _place: OwnedSemaphorePermit,
}

pub struct PasswordHasher {
    params: Params,
    /// Feeds the hashing threads.
    jobs: Mutex<mpsc::Sender<Job>>,
    /// Places for running plus waiting hashes; when none is left the caller gets 503.
    admitted: Arc<Semaphore>,
    /// Verified when the user does not exist, so that costs the same as a wrong password.
    /// Made on a hashing thread right after start rather than before the server is ready:
    /// one full hash is most of a start-up's time otherwise.
    dummy_hash: Arc<OnceLock<String>>,
    capacity: usize,
    /// Moving average of a verification, in microseconds.
    typical_micros: Arc<std::sync::atomic::AtomicU64>,
}

impl PasswordHasher {
    pub fn new(cfg: &config::Passwords) -> anyhow::Result<Self> {
        let params = params_of(cfg)?;
        let workers = if cfg.workers == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            cfg.workers
        };
        let dummy_hash = Arc::new(OnceLock::new());
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..workers {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    loop {
                        let job = match receiver.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return, // the hasher is gone
                        }
                    }
                })?;
        }
        let (dummy, dummy_params) = (dummy_hash.clone(), params.clone());
        sender
            .send(Box::new(move || {
                dummy_of(&dummy, &dummy_params);
            }))
            .map_err(|_| anyhow::anyhow!("hashing threads stopped"))?;
        Ok(Self {
            params,
            jobs: Mutex::new(sender),
            admitted: Arc::new(Semaphore::new(workers + cfg.queue)),
            dummy_hash,
            capacity: workers + cfg.queue,
            typical_micros: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        })
    }

    /// Average wall time of one hash with `cfg`'s parameters on this machine, one at a time.
    pub fn calibrate(cfg: &config::Passwords, rounds: u32) -> anyhow::Result<std::time::Duration> {
        let params = params_of(cfg)?;
        hash_with(&params, "warm-up")?;
        let started = std::time::Instant::now();
        for i in 0..rounds {
            hash_with(&params, &format!("calibration-{i}"))?;
        }
        Ok(started.elapsed() / rounds)
    }

    /// Hashes per second when `threads` threads hash at once, as the server's hashing
    /// threads do under a login load. Lower than `threads` ÷ the single-hash time wherever
    /// parallel hashes share memory bandwidth, caches or a physical core.
    pub fn parallel_rate(
        cfg: &config::Passwords,
        rounds: u32,
        threads: usize,
    ) -> anyhow::Result<f64> {
        let params = params_of(cfg)?;
        let start = std::sync::Barrier::new(threads + 1);
        let elapsed = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let (params, start) = (&params, &start);
                    scope.spawn(move || -> anyhow::Result<()> {
                        hash_with(params, "warm-up")?;
                        start.wait();
                        for i in 0..rounds {
                            hash_with(params, &format!("calibration-{t}-{i}"))?;
                        }
                        Ok(())
                    })
                })
                .collect();
            start.wait();
            let started = std::time::Instant::now();
            for worker in workers {
                worker
                    .join()
                    .map_err(|_| anyhow::anyhow!("calibration thread failed"))??;
            }
            anyhow::Ok(started.elapsed())
        })?;
        Ok(f64::from(rounds) * threads as f64 / elapsed.as_secs_f64())
    }

    /// Takes a place in the queue, or says the server is overloaded.
    pub fn reserve(&self) -> Result<Slot, CoreError> {
        self.admitted
            .clone()
            .try_acquire_owned()
            .map(|p| Slot { _place: p })
            .map_err(|_| CoreError::Overloaded)
    }

    pub async fn hash(&self, password: &Secret) -> Result<String, CoreError> {
        let params = self.params.clone();
        let password = password.clone();
        let slot = self.reserve()?;
        self.run(slot, move || hash_with(&params, password.expose()))
            .await?
            .map_err(CoreError::Internal)
    }

    /// Checks `password` against `stored`, or against a dummy hash when there is no user,
    /// in the place `slot` reserved.
    pub async fn verify(
        &self,
        slot: Slot,
        password: &Secret,
        stored: Option<&str>,
    ) -> Result<Verdict, CoreError> {
        let exists = stored.is_some();
        let stored = stored.map(str::to_owned);
        let dummy = self.dummy_hash.clone();
        let password = password.clone();
        let current = self.params.clone();
        let typical = self.typical_micros.clone();
        let verdict = self
            .run(slot, move || {
                let started = std::time::Instant::now();
                let dummy = dummy_of(&dummy, &current);
                let stored = stored.as_deref().unwrap_or(dummy);
                let verdict = verify_with(&current, password.expose(), stored, dummy);
                record(&typical, started.elapsed());
                verdict
            })
            .await?;
        Ok(Verdict {
            valid: verdict.valid && exists,
            outdated: verdict.outdated,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        slot: Slot,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CoreError> {
        let (done, result) = oneshot::channel();
        let queued = std::time::Instant::now();
        let job: Job = Box::new(move || {
            crate::metrics::observe(
                "castellan_password_hash_wait_seconds",
                &[],
                queued.elapsed(),
            );
            let _place = slot; // held until the hash is done
            let _ = done.send(job());
        });
        let sent = self
            .jobs
            .lock()
            .map_err(|_| CoreError::Overloaded)?
            .send(job);
        sent.map_err(|_| CoreError::Internal(anyhow::anyhow!("hashing threads stopped")))?;
        result
            .await
            .map_err(|_| CoreError::Internal(anyhow::anyhow!("hashing job failed")))
    }

    /// About how long one verification takes, for answers that must take as long.
    pub fn typical_verify_time(&self) -> std::time::Duration {
        std::time::Duration::from_micros(
            self.typical_micros
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Hashes waiting or running now.
    pub fn in_flight(&self) -> usize {
        self.capacity
            .saturating_sub(self.admitted.available_permits())
    }
}

/// Folds one measurement into the moving average (weight 1/8).
fn record(average: &std::sync::atomic::AtomicU64, took: std::time::Duration) {
    let sample = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    let _ = average.fetch_update(
        std::sync::atomic::Ordering::Relaxed,
        std::sync::atomic::Ordering::Relaxed,
        |old| {
            Some(if old == 0 {
                sample
            } else {
                old - old / 8 + sample / 8
            })
        },
    );
}

fn params_of(cfg: &config::Passwords) -> anyhow::Result<Params> {
    Params::new(cfg.memory_kib, cfg.iterations, cfg.parallelism, None)
        .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))
}

/// The dummy hash, made on first need (normally by the job queued at start, which the
/// hashing threads run before any login's).
fn dummy_of<'a>(dummy: &'a OnceLock<String>, params: &Params) -> &'a str {
    dummy.get_or_init(|| {
        // Hashing with parameters `Params::new` accepted does not fail; if it ever did, an
        // unparsable dummy would make unknown users fast, so say so loudly.
        hash_with(params, &super::secrets::random_token(16)).unwrap_or_else(|e| {
            tracing::error!(error = %e, "dummy password hash not made");
            String::new()
        })
    })
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
        assert!(
            h.verify(h.reserve().unwrap(), &pw, Some(&stored))
                .await
                .unwrap()
                .valid
        );
        assert!(
            !h.verify(h.reserve().unwrap(), &Secret::new("wrong"), Some(&stored))
                .await
                .unwrap()
                .valid
        );
        assert!(
            !h.verify(h.reserve().unwrap(), &pw, None)
                .await
                .unwrap()
                .valid
        );
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
        let v = strong
            .verify(strong.reserve().unwrap(), &pw, Some(&stored))
            .await
            .unwrap();
        assert!(v.valid && v.outdated);
    }
}
