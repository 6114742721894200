import ArgumentParser
import IBTPO
import Yams

/// `--config FILE`: a subcommand's options read from a YAML file (docs/cli-config.md).
///
/// The file is a mapping from option names — the long flag without `--`, spelled with `-` or
/// `_` (`max_new_tokens` = `--max-new-tokens`) — to a scalar, or to a list of scalars for a
/// repeatable option (`option: [digits=2]`). A flag (`tokens: true`) is given when true and
/// left out when false. The file's options are spliced into the command line in front of
/// the options typed there, so that one parser (the subcommand's own) validates everything
/// and the command line overrides the file: a single-valued option typed there replaces the
/// file's (which is then not read at all); a repeatable one (`--option`) adds its values
/// after the file's.
struct ConfigFile {
    let path: String
    /// The options the file set, in file order: as written and their canonical (first-listed)
    /// long name.
    let keys: [(key: String, canonical: String)]
    /// The file's options as command-line arguments.
    let arguments: [String]

    /// One line naming the file (and the key, when there is one); exit status 64 like the
    /// command line's own usage errors.
    struct Failure: Error {
        let message: String
    }

    /// Removes `--config FILE` (or `--config=FILE`) from `args` and splices the file's options
    /// in after the subcommand name (the first argument, when it names one). Returns nil when
    /// there is no `--config`. Throws `Failure` for a missing or malformed file, an unknown key
    /// or a value of the wrong shape.
    static func splice(_ args: inout [String], root: any ParsableCommand.Type) throws -> ConfigFile? {
        var path: String?
        var rest: [String] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            if a == "--" { rest += args[i...]; break }
            if a == "--config" {
                guard i + 1 < args.count else { throw Failure(message: "--config needs a file name") }
                guard path == nil else { throw Failure(message: "--config given twice") }
                path = args[i + 1]; i += 2; continue
            }
            if a.hasPrefix("--config=") {
                guard path == nil else { throw Failure(message: "--config given twice") }
                path = String(a.dropFirst("--config=".count)); i += 1; continue
            }
            rest.append(a); i += 1
        }
        guard let path else { return nil }
        let subcommand = rest.first.flatMap { name in
            root.configuration.subcommands.first { $0._commandName == name }
        }
        let options = try OptionTable(subcommand ?? root, display: subcommand.map { "ibtpo " + $0._commandName } ?? "ibtpo")
        // Single-valued options typed on the command line replace the file's (which are then
        // neither spliced nor checked); repeatable ones add to them.
        let typed = Set(rest.compactMap { a -> String? in
            guard a.hasPrefix("--") else { return nil }
            let name = String(a.dropFirst(2).prefix { $0 != "=" })
            guard let e = options.options[name], !e.repeating else { return nil }
            return e.canonical
        })
        let file = try ConfigFile.load(path, options: options, overridden: typed)
        let at = subcommand == nil ? 0 : 1
        args = Array(rest[..<at]) + file.arguments + Array(rest[at...])
        return file
    }

    /// Reads `path` and turns it into arguments of a command with `options`.
    static func load(_ path: String, options: OptionTable, overridden: Set<String> = []) throws -> ConfigFile {
        let bytes: [UInt8]
        do { bytes = try FileIO.read(path) } catch let e as IBTPOError {
            throw Failure(message: "--config: \(e.message)")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw Failure(message: "\(path): not valid YAML: \(oneLine("\(error)"))")
        }
        guard let node else { return ConfigFile(path: path, keys: [], arguments: []) }  // an empty file
        guard let mapping = node.mapping else {
            throw Failure(message: "\(path): expected a mapping of option names to values (key: value lines)")
        }
        var keys: [(key: String, canonical: String)] = [], arguments: [String] = []
        for (k, v) in mapping {
            guard let raw = k.scalar?.string else { throw Failure(message: "\(path): a key is not a plain name") }
            let key = raw.replacingAll("_", "-")
            func bad(_ why: String) -> Failure { Failure(message: "\(path): key '\(raw)': \(why)") }
            guard key != "config" else { throw bad("a config file cannot name another one") }
            guard let option = options.options[key] else {
                throw bad("unknown option for '\(options.command)' (see \(options.command) --help)")
            }
            guard !keys.contains(where: { $0.canonical == option.canonical }) else { throw bad("given twice") }
            if overridden.contains(option.canonical) { continue }
            let scalars: [Node]
            if let seq = v.sequence {
                guard option.repeating else { throw bad("a list is only allowed for a repeatable option") }
                scalars = Array(seq)
            } else {
                scalars = [v]
            }
            for s in scalars {
                guard let scalar = s.scalar else { throw bad("expected a value, got a nested \(s.mapping != nil ? "mapping" : "list")") }
                let isNull = scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
                guard !isNull else { throw bad("no value") }
                if option.isFlag {
                    guard let b = s.bool else { throw bad("a flag takes true or false (got '\(scalar.string)')") }
                    if b { arguments.append("--" + key) }
                } else {
                    arguments += ["--" + key, scalar.string]
                }
            }
            keys.append((raw, option.canonical))
        }
        return ConfigFile(path: path, keys: keys, arguments: arguments)
    }

    /// The parser's error about an option that came from this file, as one line naming the
    /// file and the key; nil when the error is not about one of the file's options.
    func attribute(_ error: Error, command: any ParsableCommand.Type) -> String? {
        let message = oneLine(command.message(for: error))
        for (key, canonical) in keys {
            for flag in Set(["--" + canonical, "--" + key.replacingAll("_", "-")])
            where message.contains("'\(flag)'") || message.contains("'\(flag) ") || message.contains("\(flag) <") {
                return "\(path): key '\(key)': \(message)"
            }
        }
        return nil
    }
}

/// The long options of one command, read from ArgumentParser's own description of it
/// (`_dumpHelp()`), so the table cannot disagree with what the parser accepts.
struct OptionTable {
    struct Entry { let isFlag: Bool; let repeating: Bool; let canonical: String }
    let command: String
    let options: [String: Entry]

    /// `display`: the command as typed ("ibtpo train"), for messages.
    init(_ type: any ParsableCommand.Type, display: String) throws {
        command = display
        guard case let .object(root)? = try? JSONParser.parse(type._dumpHelp()),
              case let .object(cmd)? = root["command"] else {
            throw ConfigFile.Failure(message: "internal error: cannot list the options of \(command)")
        }
        var table: [String: Entry] = [:]
        if case let .array(args)? = cmd["arguments"] {
            for a in args {
                guard case let .string(kind)? = a["kind"], kind != "positional",
                      case let .array(names)? = a["names"] else { continue }
                let repeating = a["isRepeating"] == .bool(true)
                let longs = names.compactMap { n -> String? in
                    guard n["kind"] == .string("long"), case let .string(name)? = n["name"] else { return nil }
                    return name
                }
                for name in longs {
                    table[name] = Entry(isFlag: kind == "flag", repeating: repeating, canonical: longs[0])
                }
            }
        }
        // Built-in flags of every command, which are not settings.
        for builtin in ["help", "version", "config"] { table[builtin] = nil }
        options = table
    }
}

/// The first line of a message, without ArgumentParser's "Error: " prefix.
func oneLine(_ s: String) -> String {
    var line = String(s.split(separator: "\n", omittingEmptySubsequences: true).first ?? "")
    if line.hasPrefix("Error: ") { line = String(line.dropFirst(7)) }
    return line
}
