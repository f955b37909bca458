// Placeholder so the models library is never empty while builders are written.
namespace sq {}
