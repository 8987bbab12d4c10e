//! The study's HTTP server (axum on a multi-threaded tokio runtime):
//! binding, running and stopping it, and its routes; the handlers are in
//! `api`.

use std::net::{SocketAddr, TcpListener};
use std::sync::{mpsc, Arc, Mutex};

use crate::api::{self, page};
use crate::app::{secret, App, Shared};
use crate::store::Store;
use crate::{pages, ReadersError, Result};
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

/// Request bodies larger than this are refused (413).
pub const BODY_LIMIT: usize = 16 * 1024;

/// A bound, not yet running, study server.
pub struct ReaderServer {
    listener: TcpListener,
    addr: SocketAddr,
    app: Shared,
}

impl ReaderServer {
    /// Binds `addr` for the study in `store`, which must hold cases, with a
    /// fresh random results token.
    pub fn bind(store: Store, addr: SocketAddr) -> Result<Self> {
        let cases = store.cases()?;
        if cases.is_empty() {
            return Err(ReadersError::NoStudy {
                db: store.path().to_path_buf(),
            });
        }
        let listener =
            TcpListener::bind(addr).map_err(|e| ReadersError::io(format!("binding {addr}"), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ReadersError::io(format!("binding {addr}"), e))?;
        Ok(Self {
            listener,
            addr,
            app: Arc::new(App {
                store: Mutex::new(store),
                cases,
                token: secret(),
            }),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The secret that the results page and CSV ask for.
    pub fn token(&self) -> &str {
        &self.app.token
    }

    /// Where readers start.
    pub fn reader_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The educator's results page, token included.
    pub fn results_url(&self) -> String {
        format!("http://{}/results?token={}", self.addr, self.app.token)
    }

    /// Serves until the process ends; returns only if the server cannot start.
    pub fn run(self) -> Result<()> {
        let (_keep, stop) = mpsc::channel();
        self.serve(stop)
    }

    /// Serves on a thread of its own until [`RunningServer::stop`] (or drop).
    pub fn spawn(self) -> Result<RunningServer> {
        let (addr, token) = (self.addr, self.app.token.clone());
        let (tx, stop) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("forger-readers-server".into())
            .spawn(move || self.serve(stop))
            .map_err(|e| ReadersError::io("starting the server thread", e))?;
        Ok(RunningServer {
            addr,
            token,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// Serves until `stop` receives or its sender is dropped.
    fn serve(self, stop: mpsc::Receiver<()>) -> Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_io()
            .build()
            .map_err(|e| ReadersError::io("starting the server runtime", e))?;
        let addr = self.addr;
        runtime.block_on(async move {
            self.listener
                .set_nonblocking(true)
                .map_err(|e| ReadersError::io(format!("listening on {addr}"), e))?;
            let listener = tokio::net::TcpListener::from_std(self.listener)
                .map_err(|e| ReadersError::io(format!("listening on {addr}"), e))?;
            let stopped = async move {
                let _ = tokio::task::spawn_blocking(move || stop.recv()).await;
            };
            axum::serve(listener, router(self.app))
                .with_graceful_shutdown(stopped)
                .await
                .map_err(|e| ReadersError::io(format!("serving on {addr}"), e))
        })
    }
}

/// A study server serving on its own thread; dropping it stops it too.
pub struct RunningServer {
    addr: SocketAddr,
    token: String,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl RunningServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The results token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Stops serving (after the requests in flight) and waits for the thread.
    pub fn stop(mut self) -> Result<()> {
        self.finish()
    }

    fn finish(&mut self) -> Result<()> {
        drop(self.stop.take());
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(ReadersError::io(
                "the server thread",
                std::io::Error::other("panicked"),
            )),
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            tracing::error!("{e}");
        }
    }
}

fn router(app: Shared) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { page(pages::READER_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/assets/reader.js",
            get(|| async { page(pages::READER_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/assets/reader.css",
            get(|| async { page(pages::READER_CSS, "text/css; charset=utf-8") }),
        )
        .route("/case/{id}", get(api::case_image))
        .route("/api/sign-in", post(api::sign_in))
        .route("/api/state", get(api::state))
        .route("/api/answer", post(api::answer))
        .route("/results", get(api::results_page))
        .route("/results/answers.csv", get(api::results_csv))
        .route("/results/summary.json", get(api::results_json))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
}
