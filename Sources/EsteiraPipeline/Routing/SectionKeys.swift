/// Keys of a routes-file mapping read as written, so a section can refuse the ones it does not know: a
/// misspelt key would otherwise be ignored in silence (no budget, no fair share).
struct SectionKeys: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }

    /// Throws "`section`unknown key 'x'; the keys are …" for the first key of `decoder`'s mapping not in `known`.
    static func refuseUnknown(in decoder: Decoder, known: [String], section: String) throws {
        let keys = try decoder.container(keyedBy: SectionKeys.self).allKeys.map(\.stringValue)
        if let unknown = keys.first(where: { !known.contains($0) }) {
            throw RoutingError("\(section)unknown key '\(unknown)'; the keys are \(known.joined(separator: ", "))")
        }
    }
}
