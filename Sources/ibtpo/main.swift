import IBTPO
print("ibtpo \(LibraryVersion.string)")
