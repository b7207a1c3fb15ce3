//! The whole local stack in one value: a throwaway PostgreSQL 15 cluster with the Supabase
//! roles and every migration, real PostgREST 12 with a locally minted `service_role` key,
//! the strict Odoo and GitHub stand-ins, and the functions on the runtime of one [`Cell`]
//! (the edge host with spin.toml, `wasmtime serve` or workerd). `cargo xtask up` runs it for
//! people; the end-to-end suites run one per test (or share one, see [`shared`]). Dropping it
//! stops everything it started.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::cell::{Cell, FunctionDecl, Manifest};
use crate::fault::FaultProxy;
use crate::postgres::Postgres;
use crate::standin::{GithubApp, GithubStandIn, OdooStandIn};
use crate::{Service, free_port, required_path, try_request};

pub use crate::standin::{GithubMode, OdooMode};

/// The repository root (the parent of the `tests` crate).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Fixed identities of the local GitHub App.
pub const GITHUB_APP_ID: &str = "424242";
/// The local GitHub App's client id.
pub const GITHUB_CLIENT_ID: &str = "Iv23liPulserLocal";
/// The one installation the stand-in knows.
pub const GITHUB_INSTALLATION_ID: &str = "31337";
/// Repository owner the app is installed on.
pub const GITHUB_REPO_OWNER: &str = "pulser";
/// Repository name.
pub const GITHUB_REPO_NAME: &str = "pulse-hub";

/// The secrets a stack runs with. Tests generate fresh ones; `cargo xtask up` keeps them in
/// `target/dev/secrets.env` so curl commands stay valid across restarts.
#[derive(Clone)]
pub struct DevSecrets {
    /// Name -> value, upper-case names as the functions read them.
    pub values: BTreeMap<String, String>,
    /// PKCS#1 PEM of the GitHub App key.
    pub github_private_key_pem: String,
    /// SPKI PEM of its public half (for the GitHub stand-in).
    pub github_public_key_pem: String,
}

impl std::fmt::Debug for DevSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevSecrets")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Secret names generated as random hex.
pub const RANDOM_SECRETS: &[&str] = &[
    "EDGE_HMAC_SECRET",
    "ODOO_SIGNING_SECRET",
    "ODOO_API_TOKEN",
    "PUSH_WEBHOOK_TOKEN",
    "GITHUB_WEBHOOK_SECRET",
    "PULSER_WEBHOOK_SECRET",
    "OASIS_READ_KEY",
    "PGRST_JWT_SECRET",
];

/// `n` random bytes as hex, from the kernel.
pub fn random_hex(n: usize) -> String {
    use std::io::Read as _;
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl DevSecrets {
    /// Fresh random secrets and the checked-in test key of the signing crate (fast; for tests).
    pub fn for_tests() -> Self {
        let data = project_root().join("shared/signing/tests/data");
        let read = |name: &str| {
            std::fs::read_to_string(data.join(name))
                .unwrap_or_else(|e| panic!("{}: {e}", data.join(name).display()))
        };
        Self::with_key(
            read("github-app-test-key.pkcs1.pem"),
            read("github-app-test-key.pub.pem"),
        )
    }

    fn with_key(private_pem: String, public_pem: String) -> Self {
        let values = RANDOM_SECRETS
            .iter()
            .map(|name| ((*name).to_owned(), random_hex(32)))
            .collect();
        Self {
            values,
            github_private_key_pem: private_pem,
            github_public_key_pem: public_pem,
        }
    }

    /// Loads `dir/secrets.env` and `dir/github-app.{pem,pub.pem}`, creating whatever is
    /// missing (the RSA key with `openssl genrsa -traditional`, PKCS#1 as GitHub hands out).
    pub fn load_or_create(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let key = dir.join("github-app.pem");
        let public = dir.join("github-app.pub.pem");
        if !key.is_file() || !public.is_file() {
            let ok = Command::new("openssl")
                .args(["genrsa", "-traditional", "-out"])
                .arg(&key)
                .arg("2048")
                .output()
                .is_ok_and(|o| o.status.success())
                && Command::new("openssl")
                    .args(["rsa", "-pubout", "-in"])
                    .arg(&key)
                    .arg("-out")
                    .arg(&public)
                    .output()
                    .is_ok_and(|o| o.status.success());
            assert!(
                ok,
                "generating the local GitHub App key needs openssl (apt-get install openssl)"
            );
        }
        let read = |p: &Path| {
            std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        };
        let mut secrets = Self::with_key(read(&key), read(&public));
        let file = dir.join("secrets.env");
        let stored = std::fs::read_to_string(&file).unwrap_or_default();
        for line in stored.lines() {
            if let Some((name, value)) = line.split_once('=') {
                secrets
                    .values
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        let body: String = secrets
            .values
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect();
        write_private(&file, &body);
        secrets
    }

    fn get(&self, name: &str) -> String {
        self.values.get(name).cloned().unwrap_or_default()
    }
}

/// Binds 127.0.0.1:`port` without listening: connections to it are refused (RST), and no
/// other socket can bind it while the returned one lives.
fn hold_port(port: u16) -> Option<socket2::Socket> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    socket.set_reuse_address(true).ok()?;
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    socket.bind(&address.into()).ok()?;
    Some(socket)
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, contents: &str) {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    file.write_all(contents.as_bytes())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// An HS256 JWT, as Supabase's API keys are.
pub fn mint_hs256(secret: &str, claims: &serde_json::Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Options for [`Stack::start`].
#[derive(Debug, Default)]
pub struct StackBuilder {
    overrides: BTreeMap<String, String>,
    without_runtime: bool,
    cell: Option<Cell>,
    data_dir: Option<PathBuf>,
    secrets: Option<DevSecrets>,
    ports: Ports,
    tools: BTreeMap<String, PathBuf>,
    postgrest_faults: bool,
    request_timeout_secs: Option<u64>,
    github_enterprise: bool,
}

/// Fixed ports (0 = any free port).
#[derive(Debug, Default, Clone, Copy)]
pub struct Ports {
    /// The edge host.
    pub edge: u16,
    /// PostgREST.
    pub postgrest: u16,
    /// PostgreSQL.
    pub postgres: u16,
}

impl StackBuilder {
    /// Overrides (or adds) a variable handed to the components (upper-case name).
    #[must_use]
    pub fn variable(mut self, name: &str, value: &str) -> Self {
        self.overrides.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Puts a [`FaultProxy`] between the components and PostgREST ([`Stack::faults`]).
    #[must_use]
    pub fn postgrest_faults(mut self) -> Self {
        self.postgrest_faults = true;
        self
    }

    /// Points `GITHUB_API_URL` at the stand-in's GitHub Enterprise Server layout
    /// (`<origin>/api/v3`), with `GITHUB_API_ORIGIN` the bare origin.
    #[must_use]
    pub fn github_enterprise(mut self) -> Self {
        self.github_enterprise = true;
        self
    }

    /// The edge host's `--request-timeout` (for components spin.toml sets no timeout for);
    /// other cells have no such deadline ([`Cell::has_request_deadline`]).
    #[must_use]
    pub fn request_timeout_secs(mut self, secs: u64) -> Self {
        self.request_timeout_secs = Some(secs);
        self
    }

    /// Starts everything but the runtime serving the functions.
    #[must_use]
    pub fn without_runtime(mut self) -> Self {
        self.without_runtime = true;
        self
    }

    /// Runs the functions on `cell` instead of [`Cell::current`].
    #[must_use]
    pub fn cell(mut self, cell: Cell) -> Self {
        self.cell = Some(cell);
        self
    }

    /// Keeps the cluster and logs in `dir` (reused across runs) instead of a temp dir.
    #[must_use]
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_path_buf());
        self
    }

    /// Uses these secrets instead of fresh ones.
    #[must_use]
    pub fn secrets(mut self, secrets: DevSecrets) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// Uses `path` for the tool otherwise found through the environment variable `var`
    /// (`PULSER_EDGE_BIN`, `POSTGREST_BIN`, `WORKERD_BIN`; for the bench's peers `DENO_BIN`,
    /// `NODE_BIN`, `PULSER_NODE_MODULES`).
    #[must_use]
    pub fn tool(mut self, var: &str, path: &Path) -> Self {
        self.tools.insert(var.to_owned(), path.to_path_buf());
        self
    }

    /// Uses fixed ports.
    #[must_use]
    pub fn ports(mut self, ports: Ports) -> Self {
        self.ports = ports;
        self
    }

    /// Starts the stack; panics with the failing service's log when something cannot start.
    pub fn start(self) -> Stack {
        Stack::start_with(self)
    }
}

/// What serves the functions.
enum Runtime {
    /// Nothing ([`StackBuilder::without_runtime`]).
    None,
    /// The edge host, every function behind spin.toml's routes.
    Edge(Service),
    /// One process per function, each started when a test first reaches its route.
    PerFunction(Vec<(FunctionDecl, OnceLock<Service>)>),
}

/// A running stack. Fields are dropped in declaration order: runtime first, database last.
pub struct Stack {
    runtime: Runtime,
    cell: Cell,
    defaults: BTreeMap<String, String>,
    faults: Option<FaultProxy>,
    postgrest: Option<Service>,
    /// PostgREST's port, bound and not listening once it is stopped ([`Stack::stop_postgrest`]).
    postgrest_port_hold: Option<socket2::Socket>,
    /// The Odoo stand-in (`ODOO_BASE_URL`).
    pub odoo: OdooStandIn,
    /// The GitHub API stand-in (`GITHUB_API_URL`).
    pub github: GithubStandIn,
    postgres: Postgres,
    vars: BTreeMap<String, String>,
    postgrest_port: u16,
    dir: PathBuf,
    temporary: bool,
    tools: BTreeMap<String, PathBuf>,
    /// PostgREST's JWT secret: signs the access tokens of [`Stack::access_token`].
    jwt_secret: String,
    // Last: runs after PostgreSQL has stopped.
    _cleanup: RemoveOnDrop,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("dir", &self.dir)
            .field("postgres_port", &self.postgres.port)
            .field("postgrest_port", &self.postgrest_port)
            .finish_non_exhaustive()
    }
}

impl Stack {
    /// A builder; `Stack::builder().start()` is the default stack.
    pub fn builder() -> StackBuilder {
        StackBuilder::default()
    }

    fn start_with(options: StackBuilder) -> Self {
        let root = project_root();
        let (dir, temporary) = match &options.data_dir {
            Some(dir) => (dir.clone(), false),
            None => {
                let dir = std::env::temp_dir().join(format!(
                    "pulser-stack-{}-{}",
                    std::process::id(),
                    random_hex(4)
                ));
                (dir, true)
            }
        };
        std::fs::create_dir_all(dir.join("logs"))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let secrets = options
            .secrets
            .clone()
            .unwrap_or_else(DevSecrets::for_tests);

        // 1. PostgreSQL with the Supabase roles and every migration.
        let postgres = Postgres::start(
            &dir.join("pgdata"),
            (options.ports.postgres != 0).then_some(options.ports.postgres),
        );
        postgres.apply_file(&root.join("supabase/bootstrap_roles.sql"));
        postgres.migrate(&root.join("supabase/migrations"));

        // 2. PostgREST with a locally minted service_role key.
        let jwt_secret = secrets.get("PGRST_JWT_SECRET");
        let now = crate::clock::unix_now();
        let service_role_key = mint_hs256(
            &jwt_secret,
            &serde_json::json!({"role": "service_role", "iss": "pulser-edge-local", "iat": now, "exp": now + 10 * 365 * 86_400}),
        );
        let postgrest_port = if options.ports.postgrest == 0 {
            free_port()
        } else {
            options.ports.postgrest
        };
        let postgrest = start_postgrest(
            &tool(&options.tools, "POSTGREST_BIN"),
            &postgres,
            postgrest_port,
            &jwt_secret,
            &dir,
            temporary,
        );

        // 3. The stand-ins.
        let odoo = OdooStandIn::start(
            &secrets.get("ODOO_API_TOKEN"),
            &secrets.get("ODOO_SIGNING_SECRET"),
        );
        let github = GithubStandIn::start(GithubApp {
            app_id: GITHUB_APP_ID.into(),
            client_id: GITHUB_CLIENT_ID.into(),
            installation_id: GITHUB_INSTALLATION_ID.into(),
            owner: GITHUB_REPO_OWNER.into(),
            repo: GITHUB_REPO_NAME.into(),
            public_key_pem: secrets.github_public_key_pem.clone(),
        });

        // 4. The variables every component may read.
        let faults = options
            .postgrest_faults
            .then(|| FaultProxy::start(&format!("http://127.0.0.1:{postgrest_port}")));
        let postgrest_url = faults.as_ref().map_or_else(
            || format!("http://127.0.0.1:{postgrest_port}"),
            FaultProxy::url,
        );
        let mut vars = BTreeMap::new();
        for name in RANDOM_SECRETS {
            if *name != "PGRST_JWT_SECRET" {
                vars.insert((*name).to_owned(), secrets.get(name));
            }
        }
        vars.insert("SUPABASE_URL".into(), postgrest_url.clone());
        vars.insert("SUPABASE_REST_URL".into(), postgrest_url);
        vars.insert("SUPABASE_SERVICE_ROLE_KEY".into(), service_role_key);
        vars.insert("ODOO_BASE_URL".into(), odoo.base_url());
        vars.insert(
            "GITHUB_API_URL".into(),
            if options.github_enterprise {
                format!("{}{}", github.api_url(), crate::standin::GHES_PREFIX)
            } else {
                github.api_url()
            },
        );
        vars.insert("GITHUB_API_ORIGIN".into(), github.api_url());
        vars.insert("GITHUB_APP_ID".into(), GITHUB_APP_ID.into());
        vars.insert(
            "GITHUB_INSTALLATION_ID".into(),
            GITHUB_INSTALLATION_ID.into(),
        );
        vars.insert("GITHUB_REPO_OWNER".into(), GITHUB_REPO_OWNER.into());
        vars.insert("GITHUB_REPO_NAME".into(), GITHUB_REPO_NAME.into());
        vars.insert(
            "GITHUB_APP_PRIVATE_KEY_BASE64".into(),
            STANDARD.encode(&secrets.github_private_key_pem),
        );
        vars.extend(options.overrides.clone());

        let cell = options.cell.unwrap_or_else(Cell::current);
        let manifest = Manifest::read(&root.join("spin.toml"));
        let mut stack = Self {
            runtime: Runtime::None,
            cell,
            defaults: manifest.defaults.clone(),
            faults,
            postgrest: Some(postgrest),
            postgrest_port_hold: None,
            odoo,
            github,
            postgres,
            vars,
            postgrest_port,
            _cleanup: RemoveOnDrop(temporary.then(|| dir.clone())),
            dir,
            temporary,
            tools: options.tools.clone(),
            jwt_secret,
        };

        // 5. The runtime serving the functions.
        if !options.without_runtime {
            stack.runtime = if cell.is_edge() {
                let port = if options.ports.edge == 0 {
                    free_port()
                } else {
                    options.ports.edge
                };
                Runtime::Edge(stack.start_edge(&root, port, options.request_timeout_secs))
            } else {
                Runtime::PerFunction(
                    manifest
                        .functions
                        .into_iter()
                        .map(|decl| (decl, OnceLock::new()))
                        .collect(),
                )
            };
        }
        stack
    }

    /// Starts one function's own process (the `wasmtime serve` and workerd cells) with the
    /// settings spin.toml binds for it, and nothing else, as a deploy of that function has.
    fn start_function(&self, decl: &FunctionDecl) -> Service {
        let settings = decl.settings(&self.vars, &self.defaults);
        let dist = dist_dir();
        match self.cell {
            Cell::WasmtimeServe => {
                let port = free_port();
                let mut cmd = Command::new(tool(&self.tools, "WASMTIME_BIN"));
                cmd.args(["serve", "-S", "cli", "--addr", &format!("127.0.0.1:{port}")]);
                // `--env NAME` passes the variable from wasmtime's own environment, so no
                // secret appears on a command line.
                for (name, value) in &settings {
                    cmd.env(name, value).args(["--env", name]);
                }
                cmd.arg(dist.join("wasi").join(format!("{}.wasm", decl.function)));
                Service::start_logging_to(
                    cmd,
                    port,
                    &format!("wasmtime-{}", decl.function),
                    self.dir
                        .join(format!("logs/wasmtime-{}.log", decl.function)),
                    !self.temporary,
                )
            }
            Cell::Workerd => crate::workerd::serve(
                &tool(&self.tools, "WORKERD_BIN"),
                &dist.join("workers").join(&decl.function),
                &decl.function,
                &settings,
            ),
            Cell::EdgeWasi | Cell::EdgeSpin => {
                unreachable!("the edge cells serve every function from one process")
            }
        }
    }

    fn start_edge(&self, root: &Path, port: u16, request_timeout_secs: Option<u64>) -> Service {
        let build = if self.cell == Cell::EdgeSpin {
            "spin"
        } else {
            "wasi"
        };
        let mut cmd = Command::new(tool(&self.tools, "PULSER_EDGE_BIN"));
        cmd.arg("--manifest")
            .arg(root.join("spin.toml"))
            .arg("--components")
            .arg(dist_dir().join(build))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            // Compiled components are cached, so only the first stack pays for compiling.
            .arg("--cache-dir")
            .arg(root.join("target/edge-cache"));
        if let Some(secs) = request_timeout_secs {
            cmd.args(["--request-timeout", &secs.to_string()]);
        }
        // Readiness (`GET /health/ready`) asks PostgREST, as in production.
        if let Some(rest) = self.vars.get("SUPABASE_REST_URL") {
            cmd.arg("--ready-url")
                .arg(format!("{}/", rest.trim_end_matches('/')));
        }
        for (name, value) in &self.vars {
            cmd.env(format!("SPIN_VARIABLE_{name}"), value);
        }
        Service::start_logging_to(
            cmd,
            port,
            "edge",
            self.dir.join("logs/edge.log"),
            !self.temporary,
        )
        .with_interrupt_on_drop()
    }

    /// The cell the functions run on.
    pub fn cell(&self) -> Cell {
        self.cell
    }

    /// The URL of `path` on the cell's runtime: the edge host's, or that of the process
    /// serving the function whose spin.toml route takes `path` (started on first use).
    ///
    /// # Panics
    /// Without a runtime, or, on a one-process-per-function cell, for a path no route takes.
    pub fn url(&self, path: &str) -> String {
        match &self.runtime {
            Runtime::None => panic!("this stack was started without a runtime"),
            Runtime::Edge(edge) => edge.url(path),
            Runtime::PerFunction(functions) => {
                let (decl, service) = functions
                    .iter()
                    .find(|(decl, _)| decl.serves(path))
                    .unwrap_or_else(|| {
                        panic!(
                            "{}: no function's route takes {path}, and only the edge host answers for other paths",
                            self.cell.name()
                        )
                    });
                service.get_or_init(|| self.start_function(decl)).url(path)
            }
        }
    }

    /// The process serving `path` (started on first use, as by [`Stack::url`]): the edge
    /// host, or the function's own process.
    ///
    /// # Panics
    /// As [`Stack::url`].
    pub fn serving_pid(&self, path: &str) -> u32 {
        match &self.runtime {
            Runtime::None => panic!("this stack was started without a runtime"),
            Runtime::Edge(edge) => edge.pid(),
            Runtime::PerFunction(functions) => {
                let _started = self.url(path);
                functions
                    .iter()
                    .find(|(decl, _)| decl.serves(path))
                    .and_then(|(_, service)| service.get())
                    .map_or(0, crate::Service::pid)
            }
        }
    }

    /// The origin (`http://127.0.0.1:<port>`) serving `path`: where a client configured with
    /// a base URL (the README's examples, `EDGE_URL`) points to reach that route.
    pub fn origin(&self, path: &str) -> String {
        let url = self.url(path);
        url.strip_suffix(path).map_or(url.clone(), str::to_owned)
    }

    /// What the runtime (and the functions, whose log lines it passes through) logged: the
    /// edge host's log, or every started function process's.
    pub fn logs(&self) -> String {
        match &self.runtime {
            Runtime::None => String::new(),
            Runtime::Edge(edge) => edge.logs(),
            Runtime::PerFunction(functions) => functions
                .iter()
                .filter_map(|(decl, service)| {
                    service
                        .get()
                        .map(|s| format!("--- {} ---\n{}", decl.function, s.logs()))
                })
                .collect(),
        }
    }

    /// PostgREST's base URL.
    pub fn postgrest_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.postgrest_port)
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn postgres_url(&self) -> String {
        self.postgres.url()
    }

    /// A variable handed to the components (upper-case name); panics when unknown.
    pub fn var(&self, name: &str) -> String {
        self.vars
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("the stack has no variable {name}"))
    }

    /// Every variable handed to the components.
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    /// Runs SQL as the `postgres` superuser; psql's unaligned tuples-only output, trimmed.
    pub fn sql(&self, sql: &str) -> String {
        self.postgres.sql(sql)
    }

    /// The proxy between the components and PostgREST; panics unless the stack was built
    /// with [`StackBuilder::postgrest_faults`].
    pub fn faults(&self) -> &FaultProxy {
        self.faults
            .as_ref()
            .expect("this stack was started without .postgrest_faults()")
    }

    /// Stops PostgREST (for "database unreachable" tests); its port then refuses connections.
    /// The port stays bound (never listening) by this stack, so that a service another test
    /// starts meanwhile cannot take it and answer in PostgREST's place.
    pub fn stop_postgrest(&mut self) {
        let port = self.postgrest.as_ref().map(|p| p.port);
        self.postgrest = None;
        self.postgrest_port_hold = port.and_then(hold_port);
    }

    /// Runs the Workers flavour of `function` (`dist/workers/<function>/`) under workerd, in
    /// a process of its own whatever the cell, with the settings spin.toml binds for it.
    pub fn workerd(&self, function: &str) -> Service {
        let manifest = Manifest::read(&project_root().join("spin.toml"));
        let decl = manifest
            .functions
            .iter()
            .find(|f| f.function == function)
            .unwrap_or_else(|| panic!("spin.toml has no function {function}"));
        crate::workerd::serve(
            &tool(&self.tools, "WORKERD_BIN"),
            &dist_dir().join("workers").join(function),
            function,
            &decl.settings(&self.vars, &self.defaults),
        )
    }

    /// The directory holding the cluster and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the logs under [`Stack::dir`] outlive the stack (a [`StackBuilder::data_dir`]
    /// stack keeps them; a temporary one is removed).
    pub fn keeps_logs(&self) -> bool {
        !self.temporary
    }

    /// An access token for this stack's PostgREST, as Supabase Auth issues one: HS256 over
    /// PostgREST's JWT secret, with `role` (`authenticated` for a signed-in user), `sub`, and
    /// `exp` `expires_in` seconds from now (negative: already expired).
    pub fn access_token(&self, role: &str, sub: &str, expires_in: i64) -> String {
        let now = crate::clock::unix_now();
        mint_hs256(
            &self.jwt_secret,
            &serde_json::json!({"role": role, "sub": sub, "aud": "authenticated", "iat": now - 60, "exp": now + expires_in}),
        )
    }

    /// The path of the tool found through the environment variable `var` (`DENO_BIN`, ...):
    /// given to the builder ([`StackBuilder::tool`]), else from the environment, failing
    /// loudly when it is neither.
    pub fn tool(&self, var: &str) -> PathBuf {
        tool(&self.tools, var)
    }
}

/// `dist/` (or `PULSER_DIST`), where `cargo xtask build` puts every flavour.
fn dist_dir() -> PathBuf {
    std::env::var_os("PULSER_DIST").map_or_else(|| project_root().join("dist"), PathBuf::from)
}

/// Removes a temporary stack directory once everything that used it has stopped.
#[derive(Debug)]
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A tool path: given to the builder, else from the environment (failing loudly).
fn tool(tools: &BTreeMap<String, PathBuf>, var: &str) -> PathBuf {
    tools
        .get(var)
        .cloned()
        .unwrap_or_else(|| required_path(var))
}

fn start_postgrest(
    bin: &Path,
    postgres: &Postgres,
    port: u16,
    jwt_secret: &str,
    dir: &Path,
    temporary: bool,
) -> Service {
    let mut cmd = Command::new(bin);
    cmd.env(
        "PGRST_DB_URI",
        format!(
            "postgres://authenticator@127.0.0.1:{}/postgres",
            postgres.port
        ),
    )
    .env("PGRST_DB_SCHEMAS", "public")
    .env("PGRST_DB_ANON_ROLE", "anon")
    .env("PGRST_JWT_SECRET", jwt_secret)
    .env("PGRST_SERVER_HOST", "127.0.0.1")
    .env("PGRST_SERVER_PORT", port.to_string())
    .env("PGRST_LOG_LEVEL", "info");
    let service = Service::start_logging_to(
        cmd,
        port,
        "postgrest",
        dir.join("logs/postgrest.log"),
        !temporary,
    );
    // Listening is not ready: wait until the schema cache is loaded and `/` answers 200.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = try_request("GET", &format!("http://127.0.0.1:{port}/"), &[], b"");
        if ready.is_ok_and(|r| r.status == 200) {
            return service;
        }
        assert!(
            Instant::now() < deadline,
            "PostgREST did not become ready:\n{}",
            service.logs()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// One stack shared by every test of a suite that does not change its modes or variables.
/// It stops when the last test holding it finishes (a later test starts a new one).
pub fn shared() -> Arc<Stack> {
    static SHARED: Mutex<Weak<Stack>> = Mutex::new(Weak::new());
    let mut slot = SHARED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(stack) = slot.upgrade() {
        return stack;
    }
    let stack = Arc::new(Stack::builder().start());
    *slot = Arc::downgrade(&stack);
    stack
}
