"""Service settings, read from ``THREADLINE_*`` environment variables.

Build ``Settings()`` only in entry points (CLI, ``create_app``) and pass it down.
"""

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./threadline.db"


class Settings(BaseSettings):
    """Every knob of the service; each field is ``THREADLINE_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="THREADLINE_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    """SQLAlchemy URL; ``sqlite://`` and ``postgresql://`` get the async driver."""
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "NORMAL"
    """SQLite's ``PRAGMA synchronous``: ``NORMAL`` survives a process crash
    (WAL), ``FULL`` also a power loss (an fsync a commit, shared by a group)."""
    host: str = "127.0.0.1"
    """Interface ``threadline serve`` binds to."""
    port: int = 8611
    """Port ``threadline serve`` listens on."""
    public_url: str | None = None
    """Base URL used to build ``execution_url``; defaults to the request's own."""
    bootstrap_api_key: SecretStr | None = None
    """An API key made valid at start-up (stored hashed)."""
    bootstrap_team_id: str = "000000000000000000000001"
    """Team of the bootstrap key (24-hex)."""
    bootstrap_user_id: str = "000000000000000000000001"
    """User of the bootstrap key (24-hex)."""
    auth_cache_seconds: float = Field(default=5.0, ge=0, le=3600)
    """How long an API key, once authenticated, is trusted without reading the
    database again (0: every request reads it). A revoke in this process takes
    effect at once; one made by another process within this time."""
    team_cache_seconds: float = Field(default=5.0, ge=0, le=3600)
    """How long a team's global variables and vendor credentials, once read for a
    run, are reused (0: read each time). A change made
    through this process is seen at once; one made by another within this time."""
    max_body_bytes: int = 5_000_000
    """Largest request body accepted; larger bodies get 413."""
    max_json_depth: int = Field(default=64, ge=2, le=200)
    """Deepest nesting of a JSON request body or WebSocket frame (422
    ``json_too_deep`` beyond); at most 200, under the serializer's own limit."""
    max_graph_nodes: int = Field(default=2_000, ge=1)
    """Most nodes in one workflow version (422 ``graph_too_large`` beyond)."""
    max_graph_edges: int = Field(default=10_000, ge=1)
    """Most edges in one workflow version (422 ``graph_too_large`` beyond)."""
    max_graph_entity_bytes: int = Field(default=200_000, ge=1)
    """Largest single node or edge config, as compact UTF-8 JSON (422
    ``graph_too_large`` beyond)."""
    max_variable_depth: int = Field(default=32, ge=1, le=200)
    """Deepest nesting of a global variable's value (422 ``variable_too_deep``)."""
    max_variable_bytes: int = Field(default=100_000, ge=1)
    """Largest global variable value, as compact UTF-8 JSON (422
    ``variable_too_large``)."""
    llm_override_url: str | None = None
    """Send every LLM call to this OpenAI-compatible endpoint."""
    llm_override_model: str | None = None
    """Model name used with ``llm_override_url``."""
    default_llm: str | None = None
    """The server's default model for ``global_default_llm``: ``provider:model``
    (e.g. ``openai:gpt-4o-mini``) or an LLM config as JSON."""
    openai_api_key: SecretStr | None = None
    """Server (fallback) key for ``openai_llm``."""
    azure_openai_api_key: SecretStr | None = None
    """Server (fallback) key for ``azure_openai_llm``."""
    azure_openai_endpoint: str | None = None
    """Azure OpenAI endpoint used when a config names none."""
    anthropic_api_key: SecretStr | None = None
    """Server (fallback) key for ``anthropic_llm``."""
    google_api_key: SecretStr | None = None
    """Server (fallback) key for ``google_llm``."""
    aws_region: str | None = None
    """AWS region for ``bedrock_llm`` (credentials come from the usual AWS chain)."""
    http_allow_private: bool = False
    """Let HTTP nodes and tools reach private and loopback addresses."""
    llm_allowed_hosts: str | None = None
    """Comma-separated host names or IP addresses that tenant LLM URLs
    (``base_url``, ``endpoint``) may reach although private (self-hosted model
    servers on the operator's network)."""

    def llm_allowed_host_set(self) -> frozenset[str]:
        """``llm_allowed_hosts`` as lower-case names (IPv6 without brackets)."""
        items = (self.llm_allowed_hosts or "").split(",")
        names = (i.strip().strip("[]").rstrip(".").lower() for i in items)
        return frozenset(n for n in names if n)

    embeddings_model: str | None = None
    """The embeddings model of knowledge-base vectors (e.g.
    ``text-embedding-3-small``); None: knowledge bases search by words alone
    (lexical full-text search) and their search responses say so."""
    embeddings_url: str | None = None
    """The OpenAI-compatible endpoint serving ``/embeddings`` (default: OpenAI;
    ``THREADLINE_LLM_OVERRIDE_URL`` wins when set). The key is the team's
    ``openai`` credential, else ``THREADLINE_OPENAI_API_KEY``."""
    kb_max_knowledge_bases: int = Field(default=100, ge=1)
    """Most knowledge bases per team (409 ``over_limit`` beyond)."""
    kb_max_documents: int = Field(default=500, ge=1)
    """Most documents in one knowledge base (409 ``over_limit`` beyond)."""
    kb_max_document_bytes: int = Field(default=5_000_000, ge=1)
    """Largest document (uploaded, or fetched from a URL), in bytes (413
    ``payload_too_large``); uploads are also bounded by
    ``THREADLINE_MAX_BODY_BYTES``."""
    kb_max_chunks: int = Field(default=20_000, ge=1)
    """Most chunks in one knowledge base; a document that would pass it fails
    ingestion with an error naming this setting."""
    kb_chunk_chars: int = Field(default=1_000, ge=100)
    """Characters per chunk."""
    kb_chunk_overlap_chars: int = Field(default=150, ge=0)
    """Characters each chunk repeats from the one before (under
    ``THREADLINE_KB_CHUNK_CHARS``)."""
    kb_max_query_chars: int = Field(default=2_000, ge=1)
    """Longest search query (422 ``validation_error`` beyond; a tool call's
    query is cut to it)."""
    kb_max_top_k: int = Field(default=20, ge=1)
    """Most chunks one search returns (422 beyond; ``knowledge_base`` tools get
    ``THREADLINE_KB_DEFAULT_TOP_K``)."""
    kb_default_top_k: int = Field(default=5, ge=1)
    """Chunks a search returns when it asks no ``top_k``, and a tool call gets."""
    secret_key: SecretStr | None = None
    """Fernet key (32 random bytes, URL-safe base64) encrypting secret global
    variables at rest; the service refuses to start with secrets stored and no key."""
    max_turn_seconds: int = 900
    """A turn running longer than this is failed by the stale-run reaper."""
    run_idle_ttl_seconds: int | None = None
    """A run waiting for input longer than this is failed (None: never)."""
    reaper_interval_seconds: float = 30
    """How often ``threadline serve`` runs the stale-run reaper (0: never)."""
    heartbeat_seconds: float = Field(default=5.0, gt=0)
    """How often each process records that it is alive and looks for turns orphaned
    by dead processes."""
    worker_dead_seconds: float = Field(default=30.0, gt=0)
    """A process silent this long is dead: its turns in flight are resumed from
    their last checkpoint by a live process."""
    history_cache_runs: int = Field(default=256, ge=0)
    """Runs whose chat histories each process keeps in memory between turns, so a
    turn reads only what the run's previous turn appended elsewhere (0: none)."""
    run_cache_size: int = Field(default=1024, ge=0)
    """Waiting runs whose row each process keeps after recording their turn, so
    the next command checks the row in its status ``UPDATE`` instead of reading
    it (0: none, each command reads its run's row)."""
    version_cache_size: int = Field(default=256, ge=0)
    """Workflow versions whose hydrated run snapshot each process keeps, so a new
    run of an unchanged version reads and builds none of it again (0: none)."""
    command_wait_seconds: float = Field(default=300.0, gt=0)
    """How long a request waits for a queued command (or for the first attempt of
    a retried ``Idempotency-Key``) before answering 409 with ``Retry-After``."""
    worker_id: str | None = None
    """This process's name among the workers (default: random)."""
    template_max_chars: int = Field(default=1_000_000, ge=1)
    """The longest value a ``{{placeholder}}`` or one of its filters may produce,
    and the most text one render may substitute, in characters; past it the node
    (or the routing) fails with a ``workflow_error`` naming this setting."""
    template_max_work: int = Field(default=10_000_000, ge=1)
    """Characters all the placeholders and filters of one render may produce."""
    template_max_steps: int = Field(default=10_000, ge=1)
    """Placeholders and filters one render may apply."""
    tool_max_seconds: int = Field(default=60, ge=1)
    """The largest ``timeout_seconds`` a tool may ask (a larger one is refused when
    saved, 422 ``over_limit``); also the bound of a tool call that asks none."""
    tool_memory_mb: int = Field(default=256, ge=32)
    """Memory (address space) of one inline Python tool process."""
    tool_max_concurrent: int = Field(default=4, ge=0)
    """Tool calls (every type but ``inbuilt_function``) in flight in one process;
    0: unlimited. Worst-case tool memory is this times ``tool_memory_mb``."""
    tool_max_concurrent_per_team: int = Field(default=2, ge=0)
    """Tool calls of one team in flight in one process (0: unlimited); with
    several processes a team may use this many in each."""
    tool_queue_seconds: float = Field(default=10.0, ge=0)
    """How long a tool call waits for a free slot before it fails with
    ``error_type: capacity`` (and a ``workflow_warning`` event in a run)."""
    managed_prompt_max_chars: int = Field(default=100_000, ge=1)
    """Longest text of one managed prompt version (characters)."""
    managed_prompts_max_per_team: int = Field(default=500, ge=1)
    """Most managed prompts one team may store (built-ins not counted)."""
    managed_prompt_versions_kept: int = Field(default=20, ge=1)
    """Versions of a managed prompt kept for reading back (runs keep the text
    they used in their snapshot, whatever is pruned)."""
    mcp_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    """Deadline of one MCP operation (connect, list tools or call one)."""
    mcp_max_tools: int = Field(default=64, ge=1)
    """Tools taken from one MCP server (the rest are not offered)."""
    mcp_max_result_chars: int = Field(default=100_000, ge=1)
    """Characters of an MCP tool result the model reads (longer ones are cut)."""
    mcp_max_servers: int = Field(default=8, ge=1)
    """MCP servers of one workflow that are used."""
    shutdown_grace_seconds: int = Field(default=10, ge=0)
    """On SIGTERM or SIGINT, how long ``threadline serve`` lets requests in flight
    finish before it cancels them (their turns stay ``running`` and are resumed by
    another process); the turns then get 10 s more, so shutdown ends in bounded
    time whatever tools are running."""
    console_dev_key: bool = True
    """On a database without any API key (and no bootstrap key), ``threadline
    serve`` creates one development key for the bootstrap team and prints it once
    with the console's URL. Turn off (``0``) in production."""
    console_session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    """How long a console sign-in lasts (at most 30 days)."""
    console_session_secret: SecretStr | None = None
    """Signs console session cookies; default: derived from ``secret_key``, else
    random per process (sign-ins then end at a restart and are not shared between
    processes)."""
    log_level: str = "info"
    """Log level of the service."""
    log_format: Literal["text", "json"] = "text"
    """``json``: one JSON object per log line, with ``run_id``, ``turn``,
    ``command_id``, ``trace_id`` and ``span_id`` where they apply."""
    metrics_public: bool = False
    """Serve ``GET /metrics`` without an API key (else any valid key, as a bearer
    token)."""
    metrics_per_team: bool = False
    """Add the ``threadline_team_*`` series (turns, LLM tokens and cost labelled by
    team id)."""
    metrics_label_limit: int = Field(default=50, ge=1, le=10_000)
    """Most distinct providers and models a process keeps as metric labels; the
    rest count under ``other``."""
    metrics_port: int | None = Field(default=None, ge=0, le=65_535)
    """Port on which ``threadline worker`` serves ``/metrics`` (on
    ``THREADLINE_HOST``; None: not served). ``serve`` uses its API port."""
    trace_content: bool = False
    """Record prompts and completions in LLM spans (tracing on only); secret values
    are scrubbed all the same."""
    team_max_concurrent_runs: int | None = Field(default=None, ge=0)
    """Default most active runs per team (a team may override it); None or 0:
    unlimited."""
    simulation_max_conversations: int = Field(default=100, ge=1, le=10_000)
    """The largest ``number_of_simulations`` a simulation config may ask (422
    ``over_limit`` when saved): conversations in one simulation group."""
    simulation_max_turns: int = Field(default=50, ge=1, le=10_000)
    """The largest ``max_turns`` (turns of each side's run in one simulated
    conversation) a simulation config may ask; also the default."""
    simulation_max_concurrent_runs: int = Field(default=10, ge=1, le=1_000)
    """The largest ``max_concurrent_runs`` (conversations of one group in flight at
    once, each holding two runs) a simulation config may ask."""
    simulation_max_seconds: int = Field(default=3600, ge=1)
    """The largest ``timeout_seconds`` (one simulated conversation, from its first
    turn) a simulation config may ask."""
    upgrade_max_runs: int = Field(default=500, ge=1, le=100_000)
    """The most waiting runs one ``upgrade-waiting-runs`` call reports on and
    upgrades; the answer says ``more`` when others are left for the next call."""
    replay_check_max_runs: int = Field(default=20, ge=1, le=1_000)
    """The largest ``runs`` (recorded runs replayed) one replay check may ask."""
    replay_check_max_llm_calls: int = Field(default=200, ge=0, le=100_000)
    """The most model calls one replay check makes (where recorded answers cannot
    be reused); runs it cannot finish within them are reported ``incomplete``."""
    executor: Literal["journal", "dbos"] = "journal"
    """Durable executor of turns: ``journal`` (our step journal, the default) or
    ``dbos`` (DBOS Transact workflows, ``service.running.dbos_executor``)."""
    dbos_system_database_url: str | None = None
    """DBOS's system database (``executor=dbos``); default: a SQLite file next to
    a SQLite main database, or the main PostgreSQL database itself."""
