import EsteiraCSV

/// A routes-file section that refuses keys it does not know, as a `RoutingError` (see `MappingKeys`).
enum SectionKeys {
    /// Throws "`section`unknown key 'x'; the keys are …" for the first key of `decoder`'s mapping not in `known`.
    static func refuseUnknown(in decoder: Decoder, known: [String], section: String) throws {
        do {
            try MappingKeys.refuseUnknown(in: decoder, known: known, section: section)
        } catch let error as UnknownKeyError {
            throw RoutingError(error.description)
        }
    }
}
