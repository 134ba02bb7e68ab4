/// A key of a YAML mapping that its section does not know: `requried` for `required`, `delimeter` for
/// `delimiter`. Decoding ignores unknown keys, so without this a misspelt setting would vanish in silence.
public struct UnknownKeyError: Error, CustomStringConvertible, Sendable, Equatable {
    /// "`section`unknown key 'x'; the keys are …".
    public var description: String
}

/// Keys of a mapping read as written, so a section's decoder can refuse the ones it does not know.
public struct MappingKeys: CodingKey {
    public var stringValue: String
    public var intValue: Int? { nil }
    public init(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { nil }

    /// Throws ``UnknownKeyError`` for the first key of `decoder`'s mapping not in `known`. `section` prefixes
    /// the message: "dialect: ", "contract column 'id': ".
    public static func refuseUnknown(in decoder: any Decoder, known: [String], section: String) throws {
        let keys = try decoder.container(keyedBy: MappingKeys.self).allKeys.map(\.stringValue)
        if let unknown = keys.first(where: { !known.contains($0) }) {
            throw UnknownKeyError(
                description: "\(section)unknown key '\(unknown)'; the keys are \(known.joined(separator: ", "))")
        }
    }
}
