import XCTest
@testable import IBTPO
final class VersionTests: XCTestCase {
    func testVersionString() { XCTAssertEqual(LibraryVersion.string, "0.3.0") }
}
