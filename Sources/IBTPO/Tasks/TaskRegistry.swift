/// Construction of built-in tasks by name, for configuration files and the CLI.
public enum TaskRegistry {
    /// Built-in task names with their options and defaults.
    public static let builtins: [(name: String, options: [(name: String, defaultValue: Int, range: ClosedRange<Int>)])] = [
        ("add", [("digits", 3, AdditionTask.digitsRange)]),
        ("countdown", [("numbers", 4, CountdownTask.countRange),
                       ("max_number", 25, CountdownTask.maxNumberRange),
                       ("max_target", 999, CountdownTask.maxTargetRange)]),
        ("modchain", [("steps", 4, ModChainTask.stepsRange),
                      ("mod", 11, ModChainTask.modulusRange)]),
    ]

    /// The built-in task `name` configured by `options` (missing options take their defaults).
    ///
    /// Throws `TaskError.unknownTask` for an unknown name, `TaskError.unknownOption` for an option
    /// the task does not have, and `TaskError.optionOutOfRange` for a value outside its range.
    public static func builtinTask(name: String, options: [String: Int] = [:], seed: UInt64) throws -> any TrainingTask {
        guard let entry = builtins.first(where: { $0.name == name }) else {
            throw TaskError.unknownTask(name: name, known: builtins.map { $0.name })
        }
        let known = entry.options.map { $0.name }
        for key in options.keys.sorted() where !known.contains(key) {
            throw TaskError.unknownOption(task: name, option: key, known: known)
        }
        var values: [String: Int] = [:]
        for option in entry.options {
            let value = options[option.name] ?? option.defaultValue
            guard option.range.contains(value) else {
                throw TaskError.optionOutOfRange(task: name, option: option.name, value: value, range: option.range)
            }
            values[option.name] = value
        }
        func v(_ key: String) -> Int { values[key] ?? 0 }
        switch name {
        case "add":
            return try AdditionTask(digits: v("digits"), seed: seed)
        case "countdown":
            return try CountdownTask(count: v("numbers"), maxNumber: v("max_number"), maxTarget: v("max_target"), seed: seed)
        default:
            return try ModChainTask(steps: v("steps"), modulus: v("mod"), seed: seed)
        }
    }
}

/// Shorthand for `TaskRegistry.builtinTask(name:options:seed:)`.
public func builtinTask(name: String, options: [String: Int] = [:], seed: UInt64) throws -> any TrainingTask {
    try TaskRegistry.builtinTask(name: name, options: options, seed: seed)
}
