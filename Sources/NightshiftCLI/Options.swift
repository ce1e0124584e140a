import ArgumentParser
import NightshiftRuntime

/// Sandbox options shared by `run` and `resume`.
struct SandboxOptions: ParsableArguments {
    @Flag(
        help:
            "Run tool commands and checks without the bubblewrap sandbox. Recorded in the run's log. Only for trusted work."
    )
    var unsandboxed = false

    @Flag(help: "Give sandboxed commands network access (off by default).")
    var allowNetwork = false

    @Option(
        help: ArgumentHelp(
            "Bind a host path read-only into the sandbox (e.g. a toolchain under /opt). Repeatable.", valueName: "PATH")
    )
    var sandboxRo: [String] = []
}

/// Model options shared by `run` and `resume`.
struct ModelOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            """
            The model for every role: openai:MODEL, anthropic:MODEL, openai-compatible:URL#MODEL \
            (Ollama, vLLM, llama.cpp, LiteLLM, OpenRouter), anthropic-compatible:URL#MODEL, or scripted:FILE \
            (the scripted test double).
            """, valueName: "SPEC"))
    var model: String?

    @Option(
        help: ArgumentHelp(
            "A different model for one role (planner, worker, judge). Repeatable.", valueName: "ROLE=SPEC"))
    var roleModel: [String] = []

    @Option(
        help: ArgumentHelp(
            "A file of NAME=VALUE lines with API keys (OPENAI_API_KEY, ANTHROPIC_API_KEY, NIGHTSHIFT_API_KEY). Keys are never written to the log.",
            valueName: "FILE"))
    var keyFile: String?

    @Option(
        help: ArgumentHelp(
            "Price overrides, YAML: MODEL_PREFIX: {input: 2.50, cached_input: 1.25, output: 10} in USD per million tokens.",
            valueName: "FILE"))
    var pricing: String?
}

extension SandboxOptions {
    var config: SandboxConfig {
        SandboxConfig(unsandboxed: unsandboxed, allowNetwork: allowNetwork, readOnlyPaths: sandboxRo)
    }
}

extension ModelOptions {
    var config: ModelConfig { ModelConfig(model: model, roleModels: roleModel, keyFile: keyFile, pricing: pricing) }
}

extension StoreOptions {
    var config: StoreConfig { StoreConfig(db: db, lockTimeoutSeconds: lockTimeout) }
}
