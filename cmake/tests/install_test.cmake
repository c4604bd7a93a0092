# Installs the build into SCRATCH/prefix, then, from a folder outside both trees: builds and
# runs a consumer project through find_package(allocmeter); runs the installed allocmeter's
# --version, list, record (the installed recorder) and report and plot (which chart script
# runs: the installed one, or $ALLOCMETER_PLOTS_SCRIPT). Run by ctest with cmake -P.
cmake_minimum_required(VERSION 3.20)
unset(ENV{ALLOCMETER_PLOTS_SCRIPT})  # the lookup under test, not the caller's override

set(prefix ${SCRATCH}/prefix)
set(elsewhere ${SCRATCH}/elsewhere)  # the working folder of every installed command
set(allocmeter ${prefix}/${BIN_DIR}/allocmeter)
file(REMOVE_RECURSE ${SCRATCH})
file(MAKE_DIRECTORY ${elsewhere})

# Runs COMMAND in `elsewhere`; its stdout and stderr, together, in `out`; fails the test, with
# what ran and what it said, when it exits non-zero.
function(run_ok what)
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY ${elsewhere} RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE o)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what}: exit ${rc}\n  ${ARGN}\n${o}")
  endif()
  message(STATUS "${what}: ok")
  set(out "${o}" PARENT_SCOPE)
endfunction()

# Fails the test unless `text` contains `needle`.
function(expect_in what text needle)
  string(FIND "${text}" "${needle}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${what}: expected '${needle}' in:\n${text}")
  endif()
endfunction()

run_ok("cmake --install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix} --config ${CONFIG})
foreach(f ${BIN_DIR}/allocmeter ${PRELOAD_DIR}/liballocmeter_recorder.so ${PRELOAD_DIR}/liballocmeter_virtual_clock.so
          ${DATA_DIR}/allocmeter_plots.py
          ${HEADERS_DIR}/allocators/bump_allocator.hpp ${HEADERS_DIR}/allocators/adapter.hpp
          ${PACKAGE_DIR}/allocmeterConfig.cmake ${PACKAGE_DIR}/allocmeterConfigVersion.cmake)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "not installed: ${prefix}/${f}")
  endif()
endforeach()
if(EXISTS ${prefix}/${HEADERS_DIR}/allocators/tests)
  message(FATAL_ERROR "the allocators' tests were installed with their headers: ${prefix}/${HEADERS_DIR}/allocators/tests")
endif()
run_ok("installed chart script is the source's" ${CMAKE_COMMAND} -E compare_files ${PLOTS_SCRIPT} ${prefix}/${DATA_DIR}/allocmeter_plots.py)

# A program outside the tree, built against the installed package only.
run_ok("consumer configure" ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE} -B ${SCRATCH}/consumer-build -G ${GENERATOR}
       -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${prefix}
       -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
run_ok("consumer build" ${CMAKE_COMMAND} --build ${SCRATCH}/consumer-build)
run_ok("consumer run" ${SCRATCH}/consumer-build/consumer)
expect_in("consumer run" "${out}" "bump_allocator and pool_allocator ok")

run_ok("allocmeter --version" ${allocmeter} --version)
expect_in("allocmeter --version" "${out}" "allocmeter ${VERSION}")
run_ok("allocmeter list" ${allocmeter} list)
expect_in("allocmeter list" "${out}" "bump")

# record preloads the installed recorder (there is none beside bin/allocmeter).
run_ok("allocmeter record" ${allocmeter} record -o ${elsewhere}/ls.trace -- ls ${elsewhere})
expect_in("allocmeter record" "${out}" "events in")
run_ok("allocmeter trace info" ${allocmeter} trace info ${elsewhere}/ls.trace)

# Which chart script runs: a stand-in at the installed path, then one named by
# $ALLOCMETER_PLOTS_SCRIPT, each leaving its own path in ran-by.txt and an empty chart list. The
# real script's charts are report_test's subject; its installed copy is compared above.
function(write_stand_in path)
  file(WRITE ${path} [=[
import json, os, sys
out = sys.argv[sys.argv.index("-o") + 1]
with open(os.path.join(out, "ran-by.txt"), "w") as f:
    f.write(os.path.abspath(__file__))
with open(os.path.join(out, "charts.json"), "w") as f:
    json.dump({"schema": "allocmeter-charts/1", "charts": []}, f)
]=])
endfunction()
file(MAKE_DIRECTORY ${elsewhere}/run)
configure_file(${RESULTS_FIXTURE} ${elsewhere}/run/results.json COPYONLY)

write_stand_in(${prefix}/${DATA_DIR}/allocmeter_plots.py)
run_ok("allocmeter report" ${allocmeter} report run)
if(NOT EXISTS ${elsewhere}/run/report.html)
  message(FATAL_ERROR "allocmeter report wrote no ${elsewhere}/run/report.html:\n${out}")
endif()
file(READ ${elsewhere}/run/charts/ran-by.txt ran_by)
file(REAL_PATH ${prefix}/${DATA_DIR}/allocmeter_plots.py installed_script)
if(NOT ran_by STREQUAL installed_script)
  message(FATAL_ERROR "allocmeter report ran the chart script ${ran_by}, not the installed ${installed_script}")
endif()

write_stand_in(${elsewhere}/own_plots.py)
run_ok("allocmeter plot, ALLOCMETER_PLOTS_SCRIPT" ${CMAKE_COMMAND} -E env ALLOCMETER_PLOTS_SCRIPT=${elsewhere}/own_plots.py
       ${allocmeter} plot run -o ${elsewhere}/own-charts)
file(READ ${elsewhere}/own-charts/ran-by.txt ran_by)
if(NOT ran_by STREQUAL "${elsewhere}/own_plots.py")
  message(FATAL_ERROR "allocmeter plot ran the chart script ${ran_by}, not ALLOCMETER_PLOTS_SCRIPT's ${elsewhere}/own_plots.py")
endif()

file(REMOVE_RECURSE ${SCRATCH})
message(STATUS "installed tree in ${prefix}: consumer, --version, list, record, report and plot all ok")
