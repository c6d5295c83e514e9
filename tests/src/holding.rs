//! A loopback HTTP server that holds every request until no new one has
//! arrived for a while, and remembers how many it held at once: the measure
//! of how many requests a client really had in flight.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long the server waits for another request before answering the ones
/// it holds. A client allowed more in flight sends them within this window;
/// a late one only lowers the measured figure.
const QUIET: Duration = Duration::from_millis(300);

#[derive(Default)]
struct Counts {
    in_flight: usize,
    most: usize,
    answered: usize,
    last_arrival: Option<Instant>,
}

/// The server; it stops accepting when dropped (its threads end with their
/// connections).
pub struct HoldingServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    counts: Arc<(Mutex<Counts>, Condvar)>,
}

impl HoldingServer {
    /// Starts serving on a free loopback port.
    pub fn start() -> HoldingServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let counts = Arc::new((Mutex::new(Counts::default()), Condvar::new()));
        let shared = counts.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || hold_then_answer(stream, &shared));
            }
        });
        HoldingServer { url, counts }
    }

    /// The most requests held at once so far.
    pub fn most_in_flight(&self) -> usize {
        self.counts.0.lock().unwrap().most
    }

    /// Requests answered so far.
    pub fn answered(&self) -> usize {
        self.counts.0.lock().unwrap().answered
    }
}

fn hold_then_answer(mut stream: TcpStream, shared: &(Mutex<Counts>, Condvar)) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let (lock, arrived) = shared;
    let mut counts = lock.lock().unwrap();
    counts.in_flight += 1;
    counts.most = counts.most.max(counts.in_flight);
    counts.last_arrival = Some(Instant::now());
    arrived.notify_all();
    loop {
        let quiet_for = counts.last_arrival.map_or(QUIET, |t| t.elapsed());
        if quiet_for >= QUIET {
            break;
        }
        counts = arrived.wait_timeout(counts, QUIET - quiet_for).unwrap().0;
    }
    counts.in_flight -= 1;
    counts.answered += 1;
    drop(counts);
    let _ =
        stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
}
