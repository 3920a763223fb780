# `cmake --install` and the Debian package. Layout under the prefix (GNUInstallDirs):
#   bin/chimera
#   share/chimera/{profiles,roles}/*.toml, share/chimera/examples/data/   (found by util/paths.h
#     share_dir() relative to the binary, so the default --data works from any folder)
#   share/doc/chimera/  README.md, docs/ (the user guide), copyright
#   share/man/man1/chimera.1.gz   generated from the CLI's own definition at build time

set(CHIMERA_MAN_PAGE ${CMAKE_BINARY_DIR}/man/chimera.1)
add_custom_command(
  OUTPUT ${CHIMERA_MAN_PAGE} ${CHIMERA_MAN_PAGE}.gz
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
  COMMAND ${CMAKE_COMMAND} -DEXE=$<TARGET_FILE:chimera> -DOUT=${CHIMERA_MAN_PAGE}
          -P ${CMAKE_SOURCE_DIR}/cmake/manpage.cmake
  DEPENDS chimera ${CMAKE_SOURCE_DIR}/cmake/manpage.cmake
  COMMENT "Writing the chimera(1) man page from the command line's definition")
add_custom_target(chimera_manpage ALL DEPENDS ${CHIMERA_MAN_PAGE}.gz)

install(TARGETS chimera RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/profiles ${CMAKE_SOURCE_DIR}/roles
        DESTINATION ${CMAKE_INSTALL_DATADIR}/chimera FILES_MATCHING PATTERN "*.toml")
install(DIRECTORY ${CMAKE_SOURCE_DIR}/examples/data DESTINATION ${CMAKE_INSTALL_DATADIR}/chimera/examples)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/packaging/copyright
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)
install(FILES ${CHIMERA_MAN_PAGE}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

# Debian package: cpack -G DEB (or `cmake --build build/release --target package`) writes
# chimera_<version>_<arch>.deb. Its Depends come from dpkg-shlibdeps on the installed binary, so
# they name exactly the Debian libraries it links (libcurl4, libfmt9, libsqlite3-0, ...).
set(CPACK_PACKAGE_NAME chimera)
set(CPACK_PACKAGE_VENDOR "Chimera")
set(CPACK_PACKAGE_CONTACT "Chimera maintainers <chimera@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "grounded LLM benchmark reports, honest measurement and an embedded GGUF engine")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
       "Chimera is one program for people who run LLMs on their own machines. `chimera run` has "
       "two agents (a baseline and a tuned configuration) write grounded reports about a folder "
       "of benchmark data, measuring every call; `chimera bench`, `tune` and `agents` measure any "
       "backend (TTFT, prefill and decode tokens/s, inter-token latency) with statistics. An "
       "embedded engine runs GGUF models (Gemma 3, Llama 3.x) without a server, and "
       "`chimera serve` offers it over the Ollama and OpenAI HTTP APIs.")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/package)
include(CPack)
