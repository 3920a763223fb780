# Run at build time: writes OUT (chimera.1) from `EXE --manpage` and OUT.gz (gzip -9n, as Debian
# installs man pages). The program runs without the builder's configuration, so the page shows the
# built-in defaults rather than whatever this machine's config file or CHIMERA_* variables say.
set(ENV{CHIMERA_CONFIG} /nonexistent/chimera-manpage/config.toml)
foreach(var CHIMERA_BACKEND CHIMERA_MODEL CHIMERA_OUT CHIMERA_DATA CHIMERA_DB CHIMERA_THREADS
            CHIMERA_SHARE_DIR OLLAMA_HOST OLLAMA_MODELS)
  unset(ENV{${var}})
endforeach()
execute_process(COMMAND ${EXE} --manpage OUTPUT_FILE ${OUT} RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${EXE} --manpage failed (${result})")
endif()
execute_process(COMMAND gzip -9n -c ${OUT} OUTPUT_FILE ${OUT}.gz RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "gzip of ${OUT} failed (${result})")
endif()
