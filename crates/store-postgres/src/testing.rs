//! A throwaway PostgreSQL server for tests: `initdb` into a temporary
//! folder, `postgres` on a loopback port with password authentication, and
//! stopped (and its folder removed) on drop. No containers: it runs the
//! distribution's own binaries (`apt-get install postgresql`; `cargo xtask
//! setup` does it), found under `/usr/lib/postgresql/<version>/bin` or in
//! `CORDON_POSTGRES_BIN`. As root, the server runs as the `postgres` user,
//! since PostgreSQL refuses to run as root.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The superuser the temporary cluster is created with.
pub const USER: &str = "cordon";

/// A running temporary PostgreSQL server.
pub struct TempPostgres {
    launch: Launch,
    dir: PathBuf,
    /// The server process, while it runs.
    server: Option<Child>,
    port: u16,
    password: String,
    databases: AtomicU64,
}

impl TempPostgres {
    /// Creates and starts a server that does not fsync (nothing a test
    /// server holds must survive a crash of the machine); panics with what
    /// to install if PostgreSQL is not there.
    pub fn start() -> TempPostgres {
        TempPostgres::start_with(false)
    }

    /// A server with PostgreSQL's default durability (every commit's WAL
    /// flushed to disk), for benchmarks comparing it with other stores.
    pub fn start_durable() -> TempPostgres {
        TempPostgres::start_with(true)
    }

    fn start_with(durable: bool) -> TempPostgres {
        let bin = binaries();
        let dir = std::env::temp_dir().join(format!(
            "cordon-pg-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("socket")).expect("create the server's folder");
        let owner = server_user();
        let password = format!("pw-{:016x}", random());
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, &password).expect("write the password file");
        if let Some((uid, gid)) = owner {
            for path in [&dir, &dir.join("socket"), &pwfile] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
            }
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let data = dir.join("data");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                USER,
                "-E",
                "UTF8",
                "--no-sync",
                "--auth=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .stdout(Stdio::null());
        as_owner(&mut initdb, owner);
        let out = initdb.output().expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let launch = Launch {
            bin,
            owner,
            durable,
        };
        let server = launch.spawn(&dir, port);
        let mut pg = TempPostgres {
            launch,
            dir,
            server: Some(server),
            port,
            password,
            databases: AtomicU64::new(0),
        };
        pg.wait_until_ready();
        pg
    }

    /// The URL of database `db` (with the password in it).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{USER}:{}@127.0.0.1:{}/{db}",
            self.password, self.port
        )
    }

    /// The password, so a test can check it appears nowhere.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates a new, empty database and returns its URL.
    pub fn fresh_database(&self) -> String {
        let name = format!("cordon_{}", self.databases.fetch_add(1, Ordering::Relaxed));
        self.sql(&self.url("postgres"), &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// Runs `sql` in the database at `url`.
    pub fn sql(&self, url: &str, sql: &str) {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let mut client =
                        postgres::Client::connect(url, postgres::NoTls).expect("connect");
                    client.batch_execute(sql).expect("run SQL");
                })
                .join()
                .expect("the SQL thread panicked")
        })
    }

    /// Stops the server (a fast shutdown: sessions are ended, nothing
    /// committed is lost), keeping its data, so a test can see what cordon
    /// does while the database is unreachable.
    pub fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            // SIGINT: PostgreSQL's fast shutdown.
            // SAFETY: kill(2) on our own child.
            unsafe { libc_kill(server.id() as i32, 2) };
            let _ = server.wait();
        }
    }

    /// Starts the stopped server again on the same port and data.
    pub fn restart(&mut self) {
        if self.server.is_none() {
            self.server = Some(self.launch.spawn(&self.dir, self.port));
            self.wait_until_ready();
        }
    }

    fn wait_until_ready(&mut self) {
        let url = self.url("postgres");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(Ok(Some(status))) = self.server.as_mut().map(Child::try_wait) {
                panic!(
                    "postgres exited ({status}) before accepting connections: {}",
                    std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
                );
            }
            let ready = std::thread::scope(|scope| {
                scope
                    .spawn(|| postgres::Client::connect(&url, postgres::NoTls).is_ok())
                    .join()
                    .unwrap_or(false)
            });
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not accept connections within a minute"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            // SIGQUIT: PostgreSQL's immediate shutdown.
            // SAFETY: kill(2) on our own child.
            unsafe { libc_kill(server.id() as i32, 3) };
            let _ = server.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}

/// How to start the server of a data folder.
struct Launch {
    bin: PathBuf,
    owner: Option<(u32, u32)>,
    durable: bool,
}

impl Launch {
    fn spawn(&self, dir: &Path, port: u16) -> Child {
        let mut postgres = Command::new(self.bin.join("postgres"));
        postgres
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                dir.join("socket").display()
            ))
            .args([
                "-c",
                if self.durable {
                    "fsync=on"
                } else {
                    "fsync=off"
                },
            ])
            .args(["-c", "max_connections=200"])
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join("server.log"))
                    .map(Stdio::from)
                    .unwrap_or(Stdio::null()),
            );
        as_owner(&mut postgres, self.owner);
        postgres.spawn().expect("start postgres")
    }
}

static STARTED: AtomicU64 = AtomicU64::new(0);

/// The folder of `initdb` and `postgres`.
fn binaries() -> PathBuf {
    if let Some(dir) = std::env::var_os("CORDON_POSTGRES_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): \
             run `cargo xtask setup`, or `apt-get install postgresql`, or set CORDON_POSTGRES_BIN"
        )
    })
}

/// As root, the `postgres` user's uid and gid.
fn server_user() -> Option<(u32, u32)> {
    let uid = std::fs::metadata("/proc/self").ok().map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid()
    })?;
    if uid != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let line = passwd
        .lines()
        .find(|line| line.starts_with("postgres:"))
        .expect("running as root, and there is no `postgres` user to run the server as");
    let fields: Vec<&str> = line.split(':').collect();
    Some((
        fields[2].parse().expect("postgres uid"),
        fields[3].parse().expect("postgres gid"),
    ))
}

fn as_owner(command: &mut Command, owner: Option<(u32, u32)>) {
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("find a free port")
}

fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    hasher.finish()
}
