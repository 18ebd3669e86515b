//! A TCP proxy between a server and PostgreSQL that a test can cut, stall and restore,
//! to simulate a database outage without disturbing the real database other tests use.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    /// Accept connections but never answer (a hung database).
    Stall,
}

#[derive(Default)]
struct Tasks {
    accept: Option<JoinHandle<()>>,
    connections: Vec<JoinHandle<()>>,
}

pub struct Proxy {
    pub addr: SocketAddr,
    target: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    tasks: Arc<Mutex<Tasks>>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let proxy = Proxy {
            addr,
            target,
            mode: Arc::new(Mutex::new(Mode::Forward)),
            tasks: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let (target, mode, tasks) = (self.target, self.mode.clone(), self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mode = *mode.lock().unwrap();
                let conn = tokio::spawn(async move {
                    if mode == Mode::Stall {
                        // Hold the socket open, silently, until the task is aborted.
                        std::future::pending::<()>().await;
                    }
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().connections.push(conn);
            }
        });
        self.tasks.lock().unwrap().accept = Some(accept);
    }

    fn drop_everything(&self) {
        let mut tasks = self.tasks.lock().unwrap();
        if let Some(accept) = tasks.accept.take() {
            accept.abort();
        }
        for conn in tasks.connections.drain(..) {
            conn.abort();
        }
    }

    /// Closes every connection and refuses new ones: the database is gone.
    pub async fn cut(&self) {
        self.drop_everything();
        // Let the aborted tasks drop their sockets (and the listener) before returning.
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    /// Closes every connection; new ones are accepted but never answered.
    pub async fn stall(&self) {
        self.cut().await;
        *self.mode.lock().unwrap() = Mode::Stall;
        self.rebind().await;
    }

    /// The database is back, on the same address.
    pub async fn restore(&self) {
        self.cut().await;
        *self.mode.lock().unwrap() = Mode::Forward;
        self.rebind().await;
    }

    async fn rebind(&self) {
        for _ in 0..100 {
            if let Ok(listener) = TcpListener::bind(self.addr).await {
                self.serve(listener);
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("could not rebind the proxy on {}", self.addr);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.drop_everything();
    }
}
